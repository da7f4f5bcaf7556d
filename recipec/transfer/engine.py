"""resolve(recipe, size) -> Resolved: apply the recipe's transfer rule sets to reach a target size.

Order of operations for each (class, hyperparameter):

1. start from the proxy value (per-class override, else the optimizer/init default);
2. weight decay is converted to the coupled form (λ = λ' / η) when the recipe uses the independent
   convention, because rule sets state WD exponents in their own convention (coupled by default);
3. an absolute formula, if any, sets the value; else a fixed value, if any, sets it;
4. each axis's power law multiplies it by ratio^exponent (width, depth, batch, tokens, head_dim);
5. weight decay is converted back to the recipe's convention with the *target* learning rate;
6. a size's hand-set override replaces the value (recorded, and flagged by lint).

``resolve`` runs these stages, each its own function, in this order (the order errors are reported in):
shapes and sizes, batch and run tokens (``recipec.transfer.batch``); the ratios and the rule-set applier
(``recipec.transfer.apply``); warnings about the rule sets; every class and kind (``recipec.transfer.hparams``);
the global multipliers; the cluster, batch split and schedule; derived figures; and the ``Resolved``.
Loading rule sets and refusing conflicts is ``recipec.transfer.loading``; ``rebase`` is ``recipec.transfer.rebase``.
"""

from __future__ import annotations

import math
from pathlib import Path

from recipec import __version__
from recipec.diagnostics import Diagnostic, Severity
from recipec.load.yaml_source import SourceMap, format_path
from recipec.recipe import Recipe, SizeModel
from recipec.resolved import (
    ClassHParams,
    Derived,
    MoeInfo,
    Multipliers,
    MuonInfo,
    OptimizerInfo,
    Override,
    Resolved,
    RuleSetInfo,
    ShapeInfo,
    Step,
    Value,
    adamw_timescale,
    convert_weight_decay,
)
from recipec.shape import Shape
from recipec.transfer.apply import Applier
from recipec.transfer.batch import (
    Tokens,
    batch,
    round_half_up,
    schedule,
    shape_at,
    size_named,
    tokens,
)
from recipec.transfer.context import PROXY, Context, proxy_step
from recipec.transfer.hparams import checked, proxy_note, resolve_kinds
from recipec.transfer.loading import load_rulesets
from recipec.transfer.rebase import rebase
from recipec.transfer.ruleset import GLOBAL_HPARAMS, RuleSet

# The code of lint's ruleset-optimizer check, which reports these warnings (recipec.lint.checks.ruleset_optimizer).
RULESET_OPTIMIZER = "RC403"


def resolve(recipe: Recipe, size: str | None = None, *, file: str = "<recipe>", sha256: str = "",
            source_map: SourceMap | None = None, base_dir: Path | None = None,
            rulesets: list[RuleSet] | None = None, overrides: tuple[tuple[str, str], ...] = ()) -> Resolved:
    """Resolve ``recipe`` at the named size (``None`` or ``"proxy"`` for the proxy itself)."""
    ctx = Context(recipe, file, sha256, source_map or SourceMap(file), base_dir)
    sets = rulesets if rulesets is not None else load_rulesets(recipe, base_dir, ctx.smap, file)

    proxy_shape = shape_at(ctx, None, size_named(ctx, None))
    target = size_named(ctx, size)
    shape = shape_at(ctx, size, target)
    tok = tokens(ctx, size, target, proxy_shape, shape)
    ratios = _ratios(proxy_shape, shape, tok)
    applier = Applier(sets, ratios, _formula_vars(shape, tok))
    warnings = ruleset_warnings(ctx, sets)

    convention = recipe.optimizer.wd_convention or "coupled"
    classes, kinds = resolve_kinds(ctx, applier, sets, proxy_shape, shape, target, size, convention)
    multipliers = _multipliers(ctx, applier, sets, size, proxy_shape, ratios)
    cluster, batch_info = batch(ctx, size, target, shape, tok)
    sched = schedule(recipe, max(1, math.ceil(tok.run / tok.batch)), tok.batch)
    derived = _derived(ctx, applier, sets, size, shape, tok, classes, convention, sched.total_steps)

    return Resolved(
        recipec_version=__version__, recipe_name=recipe.name, recipe_file=file, recipe_sha256=sha256,
        recipe_overrides=tuple(Override(key=k, value=v) for k, v in overrides),
        size=size or PROXY,
        rulesets=tuple(_ruleset_info(rs) for rs in sets),
        ratios=ratios,
        proxy_shape=_shape_info(proxy_shape, recipe),
        shape=_shape_info(shape, recipe),
        optimizer=_optimizer_info(recipe, convention),
        classes=classes,
        kinds=kinds,
        multipliers=multipliers,
        batch=batch_info,
        schedule=sched,
        cluster=cluster,
        precision=recipe.precision,
        derived=derived,
        muon=_muon_info(recipe, kinds),
        moe=_moe_info(recipe),
        warnings=tuple(warnings),
    )


# --------------------------------------------------------------------------- stages


def _ratios(proxy_shape: Shape, shape: Shape, tok: Tokens) -> dict[str, float]:
    """The size ratios the power laws use: width m, depth, batch, tokens, head_dim (and, for a mixture of
    experts, the number of experts and top-k)."""
    out = {
        "width": shape.width / proxy_shape.width,
        "depth": shape.depth / proxy_shape.depth,
        "batch": tok.batch / tok.proxy_batch,
        "tokens": tok.run / tok.proxy_run,
        "head_dim": shape.head_dim / proxy_shape.head_dim,
    }
    if proxy_shape.moe:
        out["experts"] = shape.num_experts / proxy_shape.num_experts
        out["top_k"] = shape.top_k / proxy_shape.top_k
    return out


def _formula_vars(shape: Shape, tok: Tokens) -> dict[str, float]:
    """The variables of absolute scaling-law formulas at the size: compute C, parameters N, tokens D."""
    return {
        "compute": shape.flops_per_token() * tok.run,
        "params": float(shape.non_embedding_params()),
        "tokens": float(tok.run),
    }


def ruleset_warnings(ctx: Context, sets: list[RuleSet]) -> list[Diagnostic]:
    """A rule set made for another optimizer than the recipe's (lint reports these as RC403)."""
    out = []
    opt = ctx.recipe.optimizer.name
    has_muon = ctx.recipe.optimizer.muon is not None
    for i, rs in enumerate(sets):
        allowed, muon = rs.spec.requires.optimizer, rs.spec.requires.muon
        wrong = None
        if allowed is not None and opt not in allowed:
            wrong = f"rule set '{rs.name}' is for {', '.join(allowed)}, but the recipe uses {opt}"
        elif muon is not None and muon != has_muon:
            wrong = (f"rule set '{rs.name}' is for recipes that train matrices with Muon, but the recipe has no "
                     f"optimizer.muon" if muon else
                     f"rule set '{rs.name}' is for recipes without Muon, but the "
                     f"recipe trains {', '.join(ctx.recipe.optimizer.muon.kinds)} with Muon")
        if wrong is not None:
            out.append(Diagnostic(
                wrong,
                path=format_path(("transfer", i)), location=ctx.smap.locate(("transfer", i)),
                severity=Severity.WARNING, code=RULESET_OPTIMIZER, hint="pick the rule set made for the optimizer",
                extra={"transfer_index": i},
            ))
    return out


def _proxy_globals(r: Recipe, shape: Shape) -> dict[str, float]:
    init = r.init
    return {
        "output_multiplier": init.output_multiplier,
        "embedding_multiplier": init.embedding_multiplier,
        "residual_multiplier": init.residual_multiplier,
        "attn_logit_scale": (init.attn_logit_scale if init.attn_logit_scale is not None
                             else 1 / math.sqrt(shape.head_dim)),
    }


def _multipliers(ctx: Context, applier: Applier, sets: list[RuleSet], size: str | None, proxy_shape: Shape,
                 ratios: dict[str, float]) -> Multipliers:
    """The forward multipliers and the attention logit scale (which keeps 1/sqrt(head_dim) unless a rule sets it)."""
    proxy_globals = _proxy_globals(ctx.recipe, proxy_shape)
    out = {}
    for hp in GLOBAL_HPARAMS:
        proxy = proxy_globals[hp]
        chain = [proxy_step(ctx, proxy, proxy_note(ctx.recipe, "global", hp))]
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
        out[hp] = checked(ctx, sets, size, hp, Value(value=v, proxy=proxy, chain=tuple(chain)))
    return Multipliers(**out)


def _derived(ctx: Context, applier: Applier, sets: list[RuleSet], size: str | None, shape: Shape, tok: Tokens,
             classes: dict[str, ClassHParams], convention: str, total_steps: int) -> Derived:
    """Parameter counts, FLOPs, tokens per parameter, the AdamW timescale and a scaling law's batch."""
    hidden = classes["hidden"]
    lam = convert_weight_decay(hidden.weight_decay.value, hidden.lr.value, convention, "coupled")
    tau = adamw_timescale(hidden.lr.value, lam)  # the main optimizer's hidden class (Muon kinds: in lint)
    total = shape.total_params()
    recommended = None
    if applier.has_rule("global", "batch_tokens"):
        chain = [proxy_step(ctx, float(tok.proxy_batch), "proxy global batch in tokens")]
        v = applier.apply("global", "batch_tokens", float(tok.proxy_batch), chain)
        recommended = checked(ctx, sets, size, "recommended batch_tokens",
                              Value(value=v, proxy=float(tok.proxy_batch), chain=tuple(chain)))
    return Derived(
        params_by_class=shape.params_by_class(),
        total_params=total,
        non_embedding_params=shape.non_embedding_params(),
        flops_per_token=shape.flops_per_token(),
        training_flops=shape.flops_per_token() * tok.run,
        tokens=tok.run,
        tokens_per_param=tok.run / total,
        adamw_timescale_steps=tau,
        adamw_timescale_fraction=(tau / total_steps) if tau is not None else None,
        recommended_batch_tokens=recommended,
        active_params=shape.active_params() if shape.moe else None,
    )


# --------------------------------------------------------------------------- parts of Resolved


def _ruleset_info(rs: RuleSet) -> RuleSetInfo:
    return RuleSetInfo(name=rs.name, file=rs.file, title=rs.spec.title, citation=rs.spec.source.citation,
                       url=rs.spec.source.url, params=dict(rs.params))


def _optimizer_info(r: Recipe, convention: str) -> OptimizerInfo:
    o = r.optimizer
    return OptimizerInfo(name=o.name, wd_convention=convention, betas=o.betas, momentum=o.momentum,
                         grad_clip=o.grad_clip, z_loss=o.z_loss)


def _muon_info(r: Recipe, kinds: dict) -> MuonInfo | None:
    m = r.optimizer.muon
    if m is None:
        return None
    return MuonInfo(kinds=tuple(k for k, v in kinds.items() if v.optimizer == "muon"),
                    wd_convention=m.wd_convention or "coupled", momentum=m.momentum, nesterov=m.nesterov,
                    ns_steps=m.ns_steps, eps=m.eps, adjust_lr=m.adjust_lr)


def _moe_info(r: Recipe) -> MoeInfo | None:
    m = r.model.moe
    return None if m is None else MoeInfo(router_score=m.router_score, aux_loss_coeff=float(m.aux_loss_coeff))


def _shape_info(s: Shape, recipe: Recipe) -> ShapeInfo:
    return ShapeInfo(**s.model_dump(), norm_eps=float(recipe.model.norm_eps), rope_theta=float(recipe.model.rope_theta))


def coupled_to_independent(wd: float, lr: float) -> float:
    return convert_weight_decay(wd, lr, "coupled", "independent")


def independent_to_coupled(wd: float, lr: float) -> float:
    return convert_weight_decay(wd, lr, "independent", "coupled")


__all__ = ["resolve", "rebase", "load_rulesets", "ruleset_warnings", "round_half_up", "coupled_to_independent",
           "independent_to_coupled", "PROXY", "RULESET_OPTIMIZER", "SizeModel"]
