"""resolve(recipe, size) -> Resolved: apply the recipe's transfer rule sets to reach a target size.

Order of operations for each (class, hyperparameter):

1. start from the proxy value (per-class override, else the optimizer/init default);
2. weight decay is converted to the coupled form (λ = λ' / η) when the recipe uses the independent
   convention, because rule sets state WD exponents in their own convention (coupled by default);
3. an absolute formula, if any, sets the value; else a fixed value, if any, sets it;
4. each axis's power law multiplies it by ratio^exponent (width, depth, batch, tokens, head_dim);
5. weight decay is converted back to the recipe's convention with the *target* learning rate;
6. a size's hand-set override replaces the value (recorded, and flagged by lint).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from pathlib import Path

from recipec import __version__
from recipec.diagnostics import Diagnostic, Location, RecipecError
from recipec.kinds import KIND_CLASS, KINDS, REPRESENTATIVE, fans, kinds_of
from recipec.kinds import present as present_kinds
from recipec.load.yaml_source import SourceMap, format_path
from recipec.recipe import MAX_REAL, MIN_REAL, PARAM_CLASSES, Recipe, Size, SizeModel
from recipec.resolved import (
    BatchInfo, convert_weight_decay, ClassHParams, ClusterInfo, Derived, KindHParams, Multipliers, OptimizerInfo, Override, Resolved, RuleSetInfo,
    ScheduleInfo, ShapeInfo, Step, Value,
)
from recipec.shape import Shape, ShapeError, resolve_shape
from recipec.transfer.ruleset import AXES, GLOBAL_HPARAMS, Rule, RuleSet, load_ruleset

PROXY = "proxy"


@dataclass(frozen=True)
class _Context:
    recipe: Recipe
    file: str
    sha256: str
    smap: SourceMap
    base_dir: Path | None


def _loc(ctx: _Context, path: tuple) -> Location:
    return ctx.smap.locate(path)


def _fail(ctx: _Context, path: tuple, message: str, hint: str = "") -> RecipecError:
    return RecipecError(Diagnostic(message, path=format_path(path), location=_loc(ctx, path), hint=hint))


# --------------------------------------------------------------------------- rule sets


def load_rulesets(recipe: Recipe, base_dir: Path | None = None, smap: SourceMap | None = None,
                  file: str = "<recipe>") -> list[RuleSet]:
    smap = smap or SourceMap(file)
    sets: list[RuleSet] = []
    for i, item in enumerate(recipe.transfer):
        name, params = (item, {}) if isinstance(item, str) else (item.name, dict(item.params))
        where = smap.locate(("transfer", i))
        sets.append(load_ruleset(name, params, base_dir=base_dir, where=where, path_text=f"transfer[{i}]"))
    _check_conflicts(sets, smap)
    return sets


def _check_conflicts(sets: list[RuleSet], smap: SourceMap) -> None:
    """Two rule sets that set the same (axis, class, hp) differently are an error naming both files."""
    seen: dict[tuple, tuple[int, RuleSet, str]] = {}
    formulas: dict[tuple, tuple[int, RuleSet]] = {}
    touched: dict[tuple, list[tuple[int, RuleSet]]] = {}
    diags: list[Diagnostic] = []
    for i, rs in enumerate(sets):
        for rule, exponent in zip(rs.spec.rules, rs.exponents):
            spec = f"exponent {exponent:g}" if exponent is not None else f"fixed value {rule.value:g}"
            if rule.ratio != "width":
                spec += f" on the {rule.ratio.replace('_', '-')} ratio"
            if rule.kinds is not None:
                spec += f" for kinds {', '.join(rule.kinds)}"
            for cls in rule.classes():
                key = (rule.axis or "fixed", cls, rule.hp)
                touched.setdefault((cls, rule.hp), []).append((i, rs))
                if key in seen:
                    _, other, other_spec = seen[key]
                    if other_spec != spec:
                        where = "elsewhere in the same file" if other is rs else f"but {other.file} sets"
                        diags.append(Diagnostic(
                            f"rule sets conflict on ({key[0]}, {cls}, {rule.hp}): {rs.file} sets {spec} "
                            f"{where} {other_spec}",
                            path=f"transfer[{i}]", location=smap.locate(("transfer", i)),
                            hint="remove one of them or write a rule file that combines them",
                        ))
                    continue
                seen[key] = (i, rs, spec)
        for formula in rs.spec.formulas:
            for cls in formula.classes():
                key = (cls, formula.hp)
                if key in formulas and formulas[key][1] is not rs:
                    diags.append(Diagnostic(
                        f"rule sets conflict on the absolute formula for ({cls}, {formula.hp}): "
                        f"{formulas[key][1].file} and {rs.file} both set it",
                        path=f"transfer[{i}]", location=smap.locate(("transfer", i)),
                    ))
                formulas.setdefault(key, (i, rs))
    for (cls, hp), (i, frs) in formulas.items():
        for j, other in touched.get((cls, hp), []):
            if other is not frs:
                later = max(i, j)  # point at whichever of the two comes second in `transfer`
                diags.append(Diagnostic(
                    f"rule sets conflict on ({cls}, {hp}): {frs.file} sets it by an absolute formula, "
                    f"{other.file} scales it by a power law",
                    path=f"transfer[{later}]", location=smap.locate(("transfer", later)),
                ))
                break
    if diags:
        unique = list(dict.fromkeys(diags))
        raise RecipecError(unique)


# --------------------------------------------------------------------------- sizes


def _size(ctx: _Context, name: str | None) -> Size:
    if name in (None, PROXY):
        return Size()
    try:
        return ctx.recipe.sizes[name]
    except KeyError:
        known = list(ctx.recipe.sizes)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean '{close[0]}'?" if close else ("known: " + ", ".join(known + [PROXY]))
        raise _fail(ctx, ("sizes",), f"no size named {name!r}", hint=hint) from None


def _shape(ctx: _Context, name: str | None, size: Size) -> Shape:
    try:
        return resolve_shape(ctx.recipe.model, size.model)
    except ShapeError as e:
        path = ("sizes", name, "model") + e.field if name not in (None, PROXY) else ("model",) + e.field
        raise _fail(ctx, path, e.message) from None


def _batch_tokens(ctx: _Context, name: str | None, size: Size, shape: Shape) -> tuple[int, tuple]:
    r = ctx.recipe
    if size.batch.global_tokens is not None:
        return size.batch.global_tokens, ("sizes", name, "batch", "global_tokens")
    if size.batch.global_sequences is not None:
        return size.batch.global_sequences * shape.seq_len, ("sizes", name, "batch", "global_sequences")
    if r.batch.global_sequences is not None:
        return r.batch.global_sequences * shape.seq_len, ("batch", "global_sequences")
    return r.batch.global_tokens, ("batch", "global_tokens")


def _run_tokens(ctx: _Context, size: Size, batch_tokens: int, proxy_tokens: int) -> int:
    if size.run.tokens is not None:
        return size.run.tokens
    if size.run.steps is not None:
        return size.run.steps * batch_tokens
    return proxy_tokens  # a size that names no run length trains on as many tokens as the proxy


def _cluster(ctx: _Context, name: str | None, size: Size) -> tuple[ClusterInfo, int]:
    base = ctx.recipe.cluster.model_dump()
    over = {k: v for k, v in size.cluster.model_dump().items() if v is not None}
    info = ClusterInfo(**{**base, **over})
    model_parallel = info.tensor_parallel * info.pipeline_parallel * info.context_parallel
    if info.world_size % model_parallel:
        path = ("sizes", name, "cluster") if name not in (None, PROXY) and over else ("cluster",)
        raise _fail(ctx, path, f"{info.world_size} GPUs do not divide into tensor × pipeline × context parallel "
                               f"= {model_parallel}")
    return info, info.world_size // model_parallel


# --------------------------------------------------------------------------- hyperparameters


def _proxy_values(r: Recipe, shape: Shape) -> tuple[dict[str, dict[str, float | None]], dict[str, float]]:
    opt, init = r.optimizer, r.init
    per_class: dict[str, dict[str, float | None]] = {}
    for cls in PARAM_CLASSES:
        o = getattr(opt.per_class, cls)
        lr = o.lr if o is not None and o.lr is not None else opt.lr
        wd = o.weight_decay if o is not None and o.weight_decay is not None else opt.weight_decay
        eps = o.eps if o is not None and o.eps is not None else opt.eps
        std = None if cls == "vector" else (getattr(init.per_class_std, cls) or init.std)
        per_class[cls] = {"lr": lr, "weight_decay": wd, "eps": eps, "init_std": std}
    globals_ = {
        "output_multiplier": init.output_multiplier,
        "embedding_multiplier": init.embedding_multiplier,
        "residual_multiplier": init.residual_multiplier,
        "attn_logit_scale": init.attn_logit_scale if init.attn_logit_scale is not None else 1 / math.sqrt(shape.head_dim),
    }
    return per_class, globals_


def _proxy_step(ctx: _Context, value: float, note: str) -> Step:
    return Step(kind="proxy", file=ctx.file, value=value, note=note)


class _Applier:
    """Applies the loaded rule sets to one (kind or class, hp) value."""

    def __init__(self, sets: list[RuleSet], ratios: dict[str, float], formula_vars: dict[str, float]):
        self.ratios = ratios
        self.formula_vars = formula_vars
        self.power: dict[tuple[str, str], list[tuple[RuleSet, Rule, float]]] = {}
        self.fixed: dict[tuple[str, str], list[tuple[RuleSet, Rule]]] = {}
        self.formula: dict[tuple[str, str], tuple[RuleSet, object]] = {}
        self.kind_rules: dict[str, list[Rule]] = {}  # class -> its rules restricted to some of its kinds
        self.dims: dict[str, set[int]] = {}  # class -> which fan ratios (0 fan-in, 1 fan-out) its rules use
        for rs in sets:
            for rule, exponent in zip(rs.spec.rules, rs.exponents):
                for cls in rule.classes():
                    key = (cls, rule.hp)
                    if rule.kinds is not None:
                        self.kind_rules.setdefault(cls, []).append(rule)
                    if rule.ratio != "width":
                        self.dims.setdefault(cls, set()).add(0 if rule.ratio == "fan_in" else 1)
                    if exponent is None:
                        self.fixed.setdefault(key, []).append((rs, rule))
                    else:
                        entries = self.power.setdefault(key, [])
                        same = (rule.axis, rule.ratio, tuple(rule.kinds or ()))
                        if all((e[1].axis, e[1].ratio, tuple(e[1].kinds or ())) != same for e in entries):
                            entries.append((rs, rule, exponent))  # identical duplicates apply once
            for f in rs.spec.formulas:
                for cls in f.classes():
                    self.formula.setdefault((cls, f.hp), (rs, f))

    def has_rule(self, cls: str, hp: str, axis: str | None = None) -> bool:
        key = (cls, hp)
        if axis is None:
            return key in self.power or key in self.fixed or key in self.formula
        return any(e[1].axis == axis for e in self.power.get(key, []))

    def apply(self, cls: str, hp: str, value: float, chain: list[Step], kind: str | None = None,
              fan_ratios: tuple[float, float] = (1.0, 1.0), lr_batch: float = 1.0) -> float:
        key = (cls, hp)
        fixed = next(((rs, rule) for rs, rule in self.fixed.get(key, []) if rule.applies_to(kind)), None)
        if key in self.formula:
            rs, f = self.formula[key]
            value = f.coefficient
            parts = []
            for var, exp in sorted(f.terms.items()):
                value *= _power(self.formula_vars[var], exp)
                parts.append(f"{var}^{exp:g}")
            chain.append(Step(kind="formula", ruleset=rs.name, file=rs.file, value=value,
                              note=f"{f.coefficient:g}·{'·'.join(parts)} with " + ", ".join(
                                  f"{k}={self.formula_vars[k]:.4g}" for k in sorted(f.terms)) + (
                                  f"; {f.note}" if f.note else "")))
        elif fixed is not None:
            rs, rule = fixed
            value = float(rule.value)
            chain.append(Step(kind="fixed", ruleset=rs.name, file=rs.file, value=value, note=rule.note or ""))
        for axis in AXES:
            for rs, rule, exponent in self.power.get(key, []):
                if rule.axis != axis or not rule.applies_to(kind):
                    continue
                dim = None
                if axis == "lr_batch":
                    ratio = lr_batch
                elif axis == "width" and rule.ratio != "width":
                    dim = rule.ratio
                    ratio = fan_ratios[0] if dim == "fan_in" else fan_ratios[1]
                else:
                    ratio = self.ratios[axis]
                factor = _power(ratio, exponent)
                value = value * factor
                chain.append(Step(kind="power", ruleset=rs.name, file=rs.file, axis=axis, dim=dim, ratio=ratio,
                                  exponent=exponent, factor=factor, value=value, note=rule.note or ""))
        return value


def _power(base: float, exponent: float) -> float:
    """``base ** exponent`` for a positive base, infinity where the float overflows (range-checked later)."""
    try:
        return base ** exponent
    except OverflowError:
        return math.inf


# --------------------------------------------------------------------------- range of resolved values

def _in_range(v: float, allow_zero: bool) -> bool:
    return math.isfinite(v) and (MIN_REAL <= abs(v) <= MAX_REAL or (allow_zero and v == 0))


def _checked(ctx: _Context, sets: list[RuleSet], size: str | None, what: str, value: Value | None,
             allow_zero: bool = False) -> Value | None:
    """``value`` if every step of its chain is finite and the result lies in the recipe schema's range of a
    real number; else a located error at the rule set (``transfer[i]``) whose step left the range."""
    if value is None:
        return None
    bad = next((s for s in value.chain if not math.isfinite(s.value) or
                (s.factor is not None and not math.isfinite(s.factor))), None)
    if bad is None and _in_range(value.value, allow_zero):
        return value
    if bad is None:  # finite but out of range: blame the last step that changed the value
        bad = next((s for s in reversed(value.chain) if s.kind != "proxy"), value.chain[-1])
    index = next((i for i, rs in enumerate(sets) if bad.ruleset is not None and rs.name == bad.ruleset), None)
    how = bad.ruleset or bad.kind
    if bad.kind == "power" and bad.ratio is not None and bad.exponent is not None:
        how += f" ({bad.axis} ratio {bad.ratio:.4g}^{bad.exponent:g})"
    at = f" at size {size!r}" if size not in (None, PROXY) else ""
    shown = f"{bad.value:.4g}" if math.isfinite(bad.value) else "not a finite number"
    message = (f"{what}{at}: {how} makes it {shown}; a resolved value must be finite and "
               f"{'0 or ' if allow_zero else ''}between {MIN_REAL:g} and {MAX_REAL:g}")
    path = ("transfer", index) if index is not None else ("transfer",)
    raise _fail(ctx, path, message, hint="check the rule set's exponents and parameters")


# --------------------------------------------------------------------------- resolve


def resolve(recipe: Recipe, size: str | None = None, *, file: str = "<recipe>", sha256: str = "",
            source_map: SourceMap | None = None, base_dir: Path | None = None,
            rulesets: list[RuleSet] | None = None, overrides: tuple[tuple[str, str], ...] = ()) -> Resolved:
    """Resolve ``recipe`` at the named size (``None`` or ``"proxy"`` for the proxy itself)."""
    ctx = _Context(recipe, file, sha256, source_map or SourceMap(file), base_dir)
    sets = rulesets if rulesets is not None else load_rulesets(recipe, base_dir, ctx.smap, file)
    r = recipe
    warnings: list[str] = []

    proxy_shape = _shape(ctx, None, Size())
    target = _size(ctx, size)
    shape = _shape(ctx, size, target)

    pb_tokens, _ = _batch_tokens(ctx, None, Size(), proxy_shape)
    tb_tokens, tb_path = _batch_tokens(ctx, size, target, shape)
    if tb_tokens % shape.seq_len:
        raise _fail(ctx, tb_path, f"a global batch of {tb_tokens} tokens is not a whole number of "
                                  f"{shape.seq_len}-token sequences")
    if pb_tokens % proxy_shape.seq_len:
        raise _fail(ctx, ("batch", "global_tokens"), f"a global batch of {pb_tokens} tokens is not a whole "
                                                     f"number of {proxy_shape.seq_len}-token sequences")
    p_tokens = r.run.tokens if r.run.tokens is not None else r.run.steps * pb_tokens
    t_tokens = _run_tokens(ctx, target, tb_tokens, p_tokens)

    ratios = {
        "width": shape.width / proxy_shape.width,
        "depth": shape.depth / proxy_shape.depth,
        "batch": tb_tokens / pb_tokens,
        "tokens": t_tokens / p_tokens,
        "head_dim": shape.head_dim / proxy_shape.head_dim,
    }
    formula_vars = {
        "compute": shape.flops_per_token() * t_tokens,
        "params": float(shape.non_embedding_params()),
        "tokens": float(t_tokens),
    }
    applier = _Applier(sets, ratios, formula_vars)

    for rs in sets:
        allowed = rs.spec.requires.optimizer
        if allowed is not None and r.optimizer.name not in allowed:
            warnings.append(f"rule set '{rs.name}' is for {', '.join(allowed)}, but the recipe uses "
                            f"{r.optimizer.name}")

    proxy_vals, proxy_globals = _proxy_values(r, proxy_shape)
    convention = r.optimizer.wd_convention or "coupled"
    classes, kinds = _resolve_kinds(ctx, applier, sets, proxy_vals, proxy_shape, shape, target, size, convention)

    multipliers = {}
    for hp in GLOBAL_HPARAMS:
        proxy = proxy_globals[hp]
        chain = [_proxy_step(ctx, proxy, _proxy_note(r, "global", hp))]
        if hp == "attn_logit_scale" and not applier.has_rule("global", hp):
            # No rule set says how the logit scale transfers: keep the frameworks' 1/sqrt(head_dim) law.
            v = proxy
            if ratios["head_dim"] != 1:
                factor = ratios["head_dim"] ** -0.5
                v = proxy * factor
                chain.append(Step(kind="power", ruleset="default", axis="head_dim", ratio=ratios["head_dim"],
                                  exponent=-0.5, factor=factor, value=v,
                                  note="1/sqrt(head_dim), the frameworks' default; no rule set sets it"))
        else:
            v = applier.apply("global", hp, proxy, chain)
        multipliers[hp] = _checked(ctx, sets, size, hp, Value(value=v, proxy=proxy, chain=tuple(chain)))

    cluster, dp = _cluster(ctx, size, target)
    micro = target.batch.micro_batch or r.batch.micro_batch
    sequences = tb_tokens // shape.seq_len
    per_step = micro * dp
    if sequences % per_step:
        # One check for every consumer (explain, lint, estimate, every compile target): no framework can run
        # a step that is not a whole number of micro batches on every data-parallel rank.
        if target.batch.micro_batch is not None:
            path = ("sizes", size, "batch", "micro_batch")
        elif ctx.smap.has(("batch", "micro_batch")):
            path = ("batch", "micro_batch")
        else:
            path = tb_path
        raise _fail(ctx, path, f"a global batch of {sequences} sequences does not divide into micro batches of "
                               f"{micro} on {dp} data-parallel ranks ({per_step} sequences per accumulation step)",
                    hint="make the global batch a multiple of micro_batch × data-parallel size")
    grad_accum = sequences // per_step

    total_steps = max(1, math.ceil(t_tokens / tb_tokens))
    schedule = _schedule(r, total_steps, tb_tokens)

    hidden = classes["hidden"]
    lam = hidden.weight_decay.value if convention == "coupled" else (
        hidden.weight_decay.value / hidden.lr.value)
    tau = 1.0 / (hidden.lr.value * lam) if lam > 0 else None
    params_by_class = shape.params_by_class()
    total = shape.total_params()
    recommended = None
    if applier.has_rule("global", "batch_tokens"):
        chain = [_proxy_step(ctx, float(pb_tokens), "proxy global batch in tokens")]
        v = applier.apply("global", "batch_tokens", float(pb_tokens), chain)
        recommended = _checked(ctx, sets, size, "recommended batch_tokens",
                               Value(value=v, proxy=float(pb_tokens), chain=tuple(chain)))
    derived = Derived(
        params_by_class=params_by_class,
        total_params=total,
        non_embedding_params=shape.non_embedding_params(),
        flops_per_token=shape.flops_per_token(),
        training_flops=shape.flops_per_token() * t_tokens,
        tokens=t_tokens,
        tokens_per_param=t_tokens / total,
        adamw_timescale_steps=tau,
        adamw_timescale_fraction=(tau / total_steps) if tau is not None else None,
        recommended_batch_tokens=recommended,
    )

    return Resolved(
        recipec_version=__version__,
        recipe_name=r.name,
        recipe_file=file,
        recipe_sha256=sha256,
        recipe_overrides=tuple(Override(key=k, value=v) for k, v in overrides),
        size=size or PROXY,
        rulesets=tuple(RuleSetInfo(name=rs.name, file=rs.file, title=rs.spec.title,
                                   citation=rs.spec.source.citation, url=rs.spec.source.url,
                                   params=dict(rs.params)) for rs in sets),
        ratios=ratios,
        proxy_shape=_shape_info(proxy_shape, recipe),
        shape=_shape_info(shape, recipe),
        optimizer=OptimizerInfo(name=r.optimizer.name, wd_convention=convention, betas=r.optimizer.betas,
                                momentum=r.optimizer.momentum, grad_clip=r.optimizer.grad_clip,
                                z_loss=r.optimizer.z_loss),
        classes=classes,
        kinds=kinds,
        multipliers=Multipliers(**multipliers),
        batch=BatchInfo(global_tokens=tb_tokens, global_sequences=sequences, micro_batch=micro,
                        data_parallel=dp, grad_accum=grad_accum),
        schedule=schedule,
        cluster=cluster,
        precision=r.precision,
        derived=derived,
        warnings=tuple(warnings),
    )


def _resolve_kinds(ctx: _Context, applier: _Applier, sets: list[RuleSet], proxy_vals: dict, proxy_shape: Shape,
                   shape: Shape, target: Size, size: str | None,
                   convention: str) -> tuple[dict[str, ClassHParams], dict[str, KindHParams]]:
    """Every parameter kind with its own fan ratios; a class's values are its representative kind's.

    A kind whose fan ratios and applicable rules are its representative's gets the same numbers, so
    only kinds that differ are resolved again and recorded (``Resolved.kinds``).
    """
    has = present_kinds(shape)
    ratios = {k: _fan_ratios(k, proxy_shape, shape) for k in KINDS}
    per_kind: dict[str, ClassHParams] = {}
    for cls in PARAM_CLASSES:
        rep = REPRESENTATIVE[cls]
        per_kind[rep] = _resolve_one(ctx, applier, sets, cls, rep, ratios[rep], proxy_vals[cls], target, size,
                                     convention)
        dims, restricted = applier.dims.get(cls, ()), applier.kind_rules.get(cls, [])
        for kind in kinds_of(cls):
            if kind == rep or kind not in has:
                continue
            pinned = kind in ctx.recipe.optimizer.per_kind or kind in ctx.recipe.init.per_kind_std
            other_ratio = any(ratios[kind][d] != ratios[rep][d] for d in dims)
            other_rules = any(rule.applies_to(kind) != rule.applies_to(rep) for rule in restricted)
            if other_ratio or other_rules or pinned:
                per_kind[kind] = _resolve_one(ctx, applier, sets, cls, kind, ratios[kind], proxy_vals[cls], target,
                                              size, convention)
    classes = {cls: per_kind[REPRESENTATIVE[cls]] for cls in PARAM_CLASSES}
    kinds: dict[str, KindHParams] = {}
    for kind in present_kinds(shape):
        cls = KIND_CLASS[kind]
        own, base = per_kind.get(kind), classes[cls]
        differs = {}
        if own is not None:
            for hp in ("lr", "weight_decay", "eps", "init_std"):
                mine, theirs = getattr(own, hp), getattr(base, hp)
                # a difference beyond rounding (a round trip through a rebased recipe may leave an ulp)
                if mine is not None and theirs is not None and not math.isclose(mine.value, theirs.value,
                                                                                 rel_tol=1e-12, abs_tol=0.0):
                    differs[hp] = mine
        kinds[kind] = KindHParams(cls=cls, fan_in_ratio=ratios[kind][0], fan_out_ratio=ratios[kind][1], **differs)
    return classes, kinds


def _fan_ratios(kind: str, proxy_shape: Shape, shape: Shape) -> tuple[float, float]:
    p, t = fans(kind, proxy_shape), fans(kind, shape)
    return t.fan_in / p.fan_in, t.fan_out / p.fan_out


def _resolve_one(ctx: _Context, applier: _Applier, sets: list[RuleSet], cls: str, kind: str,
                 fan_ratios: tuple[float, float], pv: dict, target: Size, size: str | None,
                 convention: str) -> ClassHParams:
    r = ctx.recipe
    pv, notes = dict(pv), {}
    own = r.optimizer.per_kind.get(kind)
    for hp in ("lr", "weight_decay", "eps"):
        if own is not None and getattr(own, hp) is not None:
            pv[hp], notes[hp] = getattr(own, hp), f"optimizer.per_kind.{kind}.{hp}"
    if kind in r.init.per_kind_std and pv["init_std"] is not None:
        pv["init_std"], notes["init_std"] = r.init.per_kind_std[kind], f"init.per_kind_std.{kind}"
    values: dict[str, Value | None] = {}
    for hp in ("lr", "eps", "init_std"):
        proxy = pv[hp]
        if proxy is None:
            values[hp] = None
            continue
        chain = [_proxy_step(ctx, proxy, notes.get(hp) or _proxy_note(r, cls, hp))]
        v = applier.apply(cls, hp, proxy, chain, kind=kind, fan_ratios=fan_ratios)
        values[hp] = Value(value=v, proxy=proxy, chain=tuple(chain))
    lr_batch = math.prod(s.factor for s in values["lr"].chain
                         if s.kind == "power" and s.axis in ("batch", "tokens") and s.factor is not None)
    values["weight_decay"] = _resolve_wd(ctx, applier, sets, cls, kind, fan_ratios, lr_batch, pv, values["lr"],
                                         convention, r, notes.get("weight_decay"))
    for hp in ("lr", "weight_decay", "eps"):
        override = getattr(getattr(target.overrides, cls) or _NO_OVERRIDE, hp)
        if override is not None:
            v = values[hp]
            chain = list(v.chain) + [Step(kind="override", file=ctx.file, value=override,
                                          note=f"set by hand in sizes.{size}.overrides.{cls}.{hp}")]
            values[hp] = Value(value=override, proxy=v.proxy, chain=tuple(chain))
    what = cls if kind == REPRESENTATIVE[cls] else kind
    for hp in ("lr", "weight_decay", "eps", "init_std"):
        values[hp] = _checked(ctx, sets, size, f"{what}.{hp}", values[hp], allow_zero=hp == "weight_decay")
    return ClassHParams(**values)


class _NoOverride:
    lr = weight_decay = eps = None


_NO_OVERRIDE = _NoOverride()


def _proxy_note(r: Recipe, cls: str, hp: str) -> str:
    if cls == "global":
        return f"init.{hp}" if hp != "attn_logit_scale" or r.init.attn_logit_scale is not None else \
            "1/sqrt(proxy head_dim)"
    if hp == "init_std":
        return f"init.per_class_std.{cls}" if getattr(r.init.per_class_std, cls) is not None else "init.std"
    o = getattr(r.optimizer.per_class, cls)
    if o is not None and getattr(o, hp) is not None:
        return f"optimizer.per_class.{cls}.{hp}"
    return f"optimizer.{hp}"


def _resolve_wd(ctx: _Context, applier: _Applier, sets: list[RuleSet], cls: str, kind: str,
                fan_ratios: tuple[float, float], lr_batch: float, pv: dict, lr: Value, convention: str,
                r: Recipe, note: str | None = None) -> Value:
    proxy = pv["weight_decay"]
    chain = [_proxy_step(ctx, proxy, (note or _proxy_note(r, cls, "weight_decay")) + f" ({convention})")]
    value = proxy
    # Rule sets state WD exponents in their own convention (coupled unless they say otherwise).
    rule_conv = _wd_rule_convention(sets, cls)
    if convention != rule_conv:
        value = convert_weight_decay(value, pv["lr"], convention, rule_conv)
        chain.append(Step(kind="convert", value=value, factor=value / proxy if proxy else None,
                          note=f"{convention} → {rule_conv} at the proxy LR {pv['lr']:g}"))
    value = applier.apply(cls, "weight_decay", value, chain, kind=kind, fan_ratios=fan_ratios, lr_batch=lr_batch)
    if convention != rule_conv:
        before = value
        value = convert_weight_decay(value, lr.value, rule_conv, convention)
        chain.append(Step(kind="convert", value=value, factor=value / before if before else None,
                          note=f"{rule_conv} → {convention} at the target LR {lr.value:g}"))
    return Value(value=value, proxy=proxy, chain=tuple(chain))


def _wd_rule_convention(sets: list[RuleSet], cls: str) -> str:
    conventions = {rs.spec.convention for rs in sets
                   if any(r.hp == "weight_decay" and cls in r.classes() for r in rs.spec.rules)}
    if len(conventions) > 1:
        names = ", ".join(rs.file for rs in sets)
        raise RecipecError(Diagnostic(f"rule sets disagree on the weight-decay convention for {cls} ({names})"))
    return conventions.pop() if conventions else "coupled"


def coupled_to_independent(wd: float, lr: float) -> float:
    return convert_weight_decay(wd, lr, "coupled", "independent")


def independent_to_coupled(wd: float, lr: float) -> float:
    return convert_weight_decay(wd, lr, "independent", "coupled")


def round_half_up(fraction: float, steps: int) -> int:
    """``fraction × steps`` to the nearest step, halves up (0.01 × 3250 = 32.5 → 33), computed on the fraction
    as written (its shortest decimal repr), so that no binary rounding of the product decides a half."""
    from decimal import ROUND_HALF_UP, Decimal

    return int((Decimal(repr(float(fraction))) * steps).to_integral_value(rounding=ROUND_HALF_UP))


def _schedule(r: Recipe, total_steps: int, batch_tokens: int) -> ScheduleInfo:
    w = r.schedule.warmup
    if w.fraction is not None:
        warmup = round_half_up(w.fraction, total_steps)
    elif w.tokens is not None:
        warmup = math.ceil(w.tokens / batch_tokens)
    else:
        warmup = w.steps
    warmup = min(warmup, total_steps)
    s = r.schedule
    if s.decay == "constant":
        decay = 0
    elif s.decay == "wsd":
        decay = s.decay_steps if s.decay_steps is not None else round_half_up(s.decay_fraction, total_steps)
        decay = min(decay, total_steps - warmup)
    else:
        decay = total_steps - warmup
    return ScheduleInfo(total_steps=total_steps, warmup_steps=warmup, decay=s.decay, decay_steps=decay,
                        min_lr_ratio=s.min_lr_ratio)


def _shape_info(s: Shape, recipe: Recipe) -> ShapeInfo:
    own = {"norm_eps": float(recipe.model.norm_eps), "rope_theta": float(recipe.model.rope_theta)}
    return ShapeInfo(**{k: own[k] if k in own else getattr(s, k) for k in ShapeInfo.model_fields})


# --------------------------------------------------------------------------- rebase


def rebase(recipe: Recipe, resolved: Resolved, *, keep_sizes: dict[str, Resolved] | None = None) -> Recipe:
    """A recipe whose proxy is ``resolved`` (every value pinned), with the original proxy as size 'proxy'.

    Used to re-resolve from an intermediate size (two-step transfer, round trips, verify rungs).
    """
    s = resolved.shape
    model = recipe.model.model_copy(update=dict(
        width=s.width, depth=s.depth, heads=s.heads, head_dim=None, kv_heads=s.kv_heads,
        ffn_hidden=s.ffn_hidden, ffn_multiplier=None, ffn_multiple_of=1, seq_len=s.seq_len))
    per_class = {}
    for cls in PARAM_CLASSES:
        hp = resolved.classes[cls]
        per_class[cls] = {"lr": hp.lr.value, "weight_decay": hp.weight_decay.value, "eps": hp.eps.value}
    std = {cls: resolved.classes[cls].init_std.value for cls in ("hidden", "embedding", "output")}
    per_kind, per_kind_std = {}, {}
    for kind, k in resolved.kinds.items():  # a kind whose own ratios gave it other numbers keeps them
        pinned = {hp: getattr(k, hp).value for hp in ("lr", "weight_decay", "eps") if getattr(k, hp) is not None}
        if pinned:
            per_kind[kind] = pinned
        if k.init_std is not None:
            per_kind_std[kind] = k.init_std.value
    m = resolved.multipliers
    data = recipe.model_dump(by_alias=True, exclude={"sizes"})
    data["model"] = model.model_dump()
    data["optimizer"]["per_class"] = per_class
    data["optimizer"]["per_kind"] = per_kind
    data["init"].update(per_class_std=std, per_kind_std=per_kind_std, output_multiplier=m.output_multiplier.value,
                        embedding_multiplier=m.embedding_multiplier.value,
                        residual_multiplier=m.residual_multiplier.value, attn_logit_scale=m.attn_logit_scale.value)
    data["batch"] = {"global_tokens": resolved.batch.global_tokens, "micro_batch": resolved.batch.micro_batch}
    data["run"] = {"tokens": resolved.derived.tokens}
    sizes = {}
    for name, other in (keep_sizes or {}).items():
        o = other.shape
        sizes[name] = {
            "model": {"width": o.width, "depth": o.depth, "heads": o.heads, "kv_heads": o.kv_heads,
                      "ffn_hidden": o.ffn_hidden, "seq_len": o.seq_len},
            "batch": {"global_tokens": other.batch.global_tokens},
            "run": {"tokens": other.derived.tokens},
        }
    data["sizes"] = sizes
    return Recipe.model_validate(data)


__all__ = ["resolve", "rebase", "load_rulesets", "coupled_to_independent", "independent_to_coupled", "PROXY",
           "SizeModel"]
