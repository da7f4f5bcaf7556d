"""The per-class and per-kind hyperparameters (LR, weight decay, eps, init std) at one size, each with its chain.

Every parameter kind (``recipec.kinds``) gets its own fan ratios; a class's values are its representative
kind's. Weight decay goes through the rule sets' convention (see ``recipec.transfer.engine``), and every
value is range-checked (``checked``) so that no consumer sees an infinity or a 1e300.
"""

from __future__ import annotations

import math

from recipec.diagnostics import Diagnostic, RecipecError
from recipec.kinds import (
    KIND_CLASS,
    KINDS,
    PARAM_CLASSES,
    REPRESENTATIVE,
    fans,
    kinds_of,
    spectral_target,
)
from recipec.kinds import present as present_kinds
from recipec.recipe import MAX_REAL, MIN_REAL, Recipe, Size
from recipec.resolved import (
    ClassHParams,
    KindHParams,
    Step,
    Value,
    convert_weight_decay,
)
from recipec.shape import Shape
from recipec.transfer.apply import Applier
from recipec.transfer.context import PROXY, Context, fail, proxy_step
from recipec.transfer.ruleset import RuleSet


def proxy_values(r: Recipe) -> dict[str, dict[str, float | None]]:
    """Each class's proxy LR, WD, eps and init std (a per-class override, else the optimizer/init default)."""
    opt, init = r.optimizer, r.init
    per_class: dict[str, dict[str, float | None]] = {}
    for cls in PARAM_CLASSES:
        o = getattr(opt.per_class, cls)
        lr = o.lr if o is not None and o.lr is not None else opt.lr
        wd = o.weight_decay if o is not None and o.weight_decay is not None else opt.weight_decay
        eps = o.eps if o is not None and o.eps is not None else opt.eps
        std = None if cls == "vector" else (getattr(init.per_class_std, cls) or init.std)
        per_class[cls] = {"lr": lr, "weight_decay": wd, "eps": eps, "init_std": std}
    return per_class


def in_range(v: float, allow_zero: bool) -> bool:
    return math.isfinite(v) and (MIN_REAL <= abs(v) <= MAX_REAL or (allow_zero and v == 0))


def checked(ctx: Context, sets: list[RuleSet], size: str | None, what: str, value: Value | None,
             allow_zero: bool = False) -> Value | None:
    """``value`` if every step of its chain is finite and the result lies in the recipe schema's range of a
    real number; else a located error at the rule set (``transfer[i]``) whose step left the range."""
    if value is None:
        return None
    bad = next((s for s in value.chain if not math.isfinite(s.value) or
                (s.factor is not None and not math.isfinite(s.factor))), None)
    if bad is None and in_range(value.value, allow_zero):
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
    raise fail(ctx, path, message, hint="check the rule set's exponents and parameters")


def resolve_kinds(ctx: Context, applier: Applier, sets: list[RuleSet], proxy_shape: Shape, shape: Shape, target: Size,
                  size: str | None, convention: str) -> tuple[dict[str, ClassHParams], dict[str, KindHParams]]:
    """Every parameter kind with its own fan ratios; a class's values are its representative kind's.

    A kind whose fan ratios and applicable rules are its representative's gets the same numbers, so
    only kinds that differ are resolved again and recorded (``Resolved.kinds``).
    """
    proxy_vals = proxy_values(ctx.recipe)
    has = present_kinds(shape)
    muon = muon_kinds(ctx.recipe, has)
    adjust = ctx.recipe.optimizer.muon.adjust_lr if ctx.recipe.optimizer.muon is not None else "original"
    ratios = {k: _fan_ratios(k, proxy_shape, shape, adjust) for k in KINDS}
    per_kind: dict[str, ClassHParams] = {}
    classes: dict[str, ClassHParams] = {}
    for cls in PARAM_CLASSES:
        rep = REPRESENTATIVE[cls]  # the class value: the main optimizer's, whether or not Muon trains this kind
        per_kind[rep] = classes[cls] = _resolve_one(ctx, applier, sets, cls, rep, ratios[rep], proxy_vals[cls],
                                                    target, size, convention)
        dims, restricted = applier.dims.get(cls, ()), applier.kind_rules.get(cls, [])
        for kind in kinds_of(cls):
            if kind not in has or (kind == rep and kind not in muon):
                continue
            if kind in muon:
                per_kind[kind] = _resolve_one(ctx, applier, sets, cls, kind, ratios[kind],
                                              _muon_values(ctx.recipe, proxy_vals[cls]), target, size,
                                              ctx.recipe.optimizer.muon.wd_convention or "coupled", muon=True)
                continue
            pinned = kind in ctx.recipe.optimizer.per_kind or kind in ctx.recipe.init.per_kind_std
            other_ratio = any(ratios[kind][d] != ratios[rep][d] for d in dims)
            other_rules = any(rule.applies_to(kind) != rule.applies_to(rep) for rule in restricted)
            if other_ratio or other_rules or pinned:
                per_kind[kind] = _resolve_one(ctx, applier, sets, cls, kind, ratios[kind], proxy_vals[cls], target,
                                              size, convention)
    kinds: dict[str, KindHParams] = {}
    for kind in present_kinds(shape):
        cls = KIND_CLASS[kind]
        own, base = per_kind.get(kind), classes[cls]
        differs = {}
        if own is not None:
            for hp in ("lr", "weight_decay", "eps", "init_std"):
                mine, theirs = getattr(own, hp), getattr(base, hp)
                if kind in muon and hp in ("lr", "weight_decay"):  # Muon's own numbers, always written out
                    differs[hp] = mine
                # a difference beyond rounding (a round trip through a rebased recipe may leave an ulp)
                elif (hp != "eps" or kind not in muon) and mine is not None and theirs is not None and \
                        not math.isclose(mine.value, theirs.value, rel_tol=1e-12, abs_tol=0.0):
                    differs[hp] = mine
        kinds[kind] = KindHParams(cls=cls, fan_in_ratio=ratios[kind][0], fan_out_ratio=ratios[kind][1],
                                  optimizer="muon" if kind in muon else None, **differs)
    return classes, kinds


def muon_kinds(r: Recipe, has: tuple[str, ...]) -> tuple[str, ...]:
    """The kinds of the model that Muon trains (none without ``optimizer.muon``)."""
    if r.optimizer.muon is None:
        return ()
    return tuple(k for k in has if k in r.optimizer.muon.kinds)


def _muon_values(r: Recipe, pv: dict) -> dict:
    """A Muon kind's proxy values: Muon's LR and weight decay, the class's init std (eps is Adam's, unused)."""
    m = r.optimizer.muon
    return {**pv, "lr": m.lr, "weight_decay": m.weight_decay}


def _fan_ratios(kind: str, proxy_shape: Shape, shape: Shape, adjust_lr: str) -> tuple[float, float, float]:
    """(fan-in, fan-out, spectral) ratios of a kind, target / proxy (1 for a kind the model lacks)."""
    p, t = fans(kind, proxy_shape), fans(kind, shape)
    if min(p.fan_in, p.fan_out, t.fan_in, t.fan_out) == 0:
        return 1.0, 1.0, 1.0
    spectral = spectral_target(kind, shape, adjust_lr) / spectral_target(kind, proxy_shape, adjust_lr)
    return t.fan_in / p.fan_in, t.fan_out / p.fan_out, spectral


def _resolve_one(ctx: Context, applier: Applier, sets: list[RuleSet], cls: str, kind: str,
                 fan_ratios: tuple[float, ...], pv: dict, target: Size, size: str | None,
                 convention: str, muon: bool = False) -> ClassHParams:
    r = ctx.recipe
    pv, notes = dict(pv), {}
    if muon:
        notes.update(lr="optimizer.muon.lr", weight_decay="optimizer.muon.weight_decay")
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
        chain = [proxy_step(ctx, proxy, notes.get(hp) or proxy_note(r, cls, hp))]
        v = applier.apply(cls, hp, proxy, chain, kind=kind, fan_ratios=fan_ratios, muon=muon)
        values[hp] = Value(value=v, proxy=proxy, chain=tuple(chain))
    lr_batch = math.prod(s.factor for s in values["lr"].chain
                         if s.kind == "power" and s.axis in ("batch", "tokens") and s.factor is not None)
    values["weight_decay"] = _resolve_wd(ctx, applier, sets, cls, kind, fan_ratios, lr_batch, pv, values["lr"],
                                         convention, r, notes.get("weight_decay"), muon)
    for hp in ("lr", "weight_decay", "eps"):
        # a size's per-class override replaces the main optimizer's value; a Muon kind keeps its own
        override = None if muon else getattr(getattr(target.overrides, cls) or _NO_OVERRIDE, hp)
        if override is not None:
            v = values[hp]
            chain = list(v.chain) + [Step(kind="override", file=ctx.file, value=override,
                                          note=f"set by hand in sizes.{size}.overrides.{cls}.{hp}")]
            values[hp] = Value(value=override, proxy=v.proxy, chain=tuple(chain))
    what = cls if kind == REPRESENTATIVE[cls] else kind
    for hp in ("lr", "weight_decay", "eps", "init_std"):
        values[hp] = checked(ctx, sets, size, f"{what}.{hp}", values[hp], allow_zero=hp == "weight_decay")
    return ClassHParams(**values)


class _NoOverride:
    lr = weight_decay = eps = None


_NO_OVERRIDE = _NoOverride()


def proxy_note(r: Recipe, cls: str, hp: str) -> str:
    if cls == "global":
        return f"init.{hp}" if hp != "attn_logit_scale" or r.init.attn_logit_scale is not None else \
            "1/sqrt(proxy head_dim)"
    if hp == "init_std":
        return f"init.per_class_std.{cls}" if getattr(r.init.per_class_std, cls) is not None else "init.std"
    o = getattr(r.optimizer.per_class, cls)
    if o is not None and getattr(o, hp) is not None:
        return f"optimizer.per_class.{cls}.{hp}"
    return f"optimizer.{hp}"


def _resolve_wd(ctx: Context, applier: Applier, sets: list[RuleSet], cls: str, kind: str,
                fan_ratios: tuple[float, ...], lr_batch: float, pv: dict, lr: Value, convention: str,
                r: Recipe, note: str | None = None, muon: bool = False) -> Value:
    proxy = pv["weight_decay"]
    chain = [proxy_step(ctx, proxy, (note or proxy_note(r, cls, "weight_decay")) + f" ({convention})")]
    value = proxy
    # Rule sets state WD exponents in their own convention (coupled unless they say otherwise).
    rule_conv = _wd_rule_convention(sets, cls, muon)
    if convention != rule_conv:
        value = convert_weight_decay(value, pv["lr"], convention, rule_conv)
        chain.append(Step(kind="convert", value=value, factor=value / proxy if proxy else None,
                          note=f"{convention} → {rule_conv} at the proxy LR {pv['lr']:g}"))
    value = applier.apply(cls, "weight_decay", value, chain, kind=kind, fan_ratios=fan_ratios, lr_batch=lr_batch,
                          muon=muon)
    if convention != rule_conv:
        before = value
        value = convert_weight_decay(value, lr.value, rule_conv, convention)
        chain.append(Step(kind="convert", value=value, factor=value / before if before else None,
                          note=f"{rule_conv} → {convention} at the target LR {lr.value:g}"))
    return Value(value=value, proxy=proxy, chain=tuple(chain))


def _wd_rule_convention(sets: list[RuleSet], cls: str, muon: bool = False) -> str:
    want = "muon" if muon else "main"
    conventions = {rs.spec.convention for rs in sets
                   if any(r.hp == "weight_decay" and cls in r.classes() and r.optimizer == want for r in rs.spec.rules)}
    if len(conventions) > 1:
        names = ", ".join(rs.file for rs in sets)
        raise RecipecError(Diagnostic(f"rule sets disagree on the weight-decay convention for {cls} ({names})"))
    return conventions.pop() if conventions else "coupled"

