"""torchtitan 0.3: a Python config module (``--module recipec_torchtitan --config recipec_config``).

Per-kind LR / WD / eps are native: ``ParamGroupConfig`` regex patterns over the Llama3 parameter
names (first match wins), one group per distinct set of numbers, each covering the kinds
(``recipec.kinds``) that resolved to those numbers; the name → kind knowledge is
``recipec.frameworks.torchtitan``. Every matrix gets its own kind's init std through its module's
``param_init``. What torchtitan's Llama3 cannot express is lowered to an equivalent form (output,
embedding and residual-branch multipliers folded into their weights, see ``recipec.render.classes``)
or reported as a note naming the value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from recipec.frameworks import fmt, is_one
from recipec.frameworks import torchtitan as tt
from recipec.frameworks.gaps import gaps
from recipec.kinds import KIND_CLASS, MULTIPLIER_OF
from recipec.render import LaunchCommand, RenderContext, RenderedFile, TargetOutput
from recipec.render.classes import ClassGroup, lowered

MODULE = "recipec_torchtitan"
FUNCTION = "recipec_config"
# Where each lowered multiplier lands, for the notes.
_LOWERED_INTO = {"embedding_multiplier": "tok_embeddings", "output_multiplier": "lm_head",
                 "residual_multiplier": "each branch's output projection (attention.wo, feed_forward.w2)"}


@dataclass(frozen=True)
class PatternGroup:
    group: ClassGroup  # the numbers (of the group's first kind); name: the kinds joined with '+'
    kinds: tuple[str, ...]
    pattern: str
    lowered: str = ""  # "residual_multiplier 0.707107 (o, mlp_out)" when multipliers were folded in


@dataclass(frozen=True)
class InitStds:
    """Each matrix's init std (after lowering), by the module it is written into."""

    q: float  # wqkv when fused, wq otherwise
    kv: float  # wkv (wk and wv) when unfused; equals q when fused
    o: float
    mlp_in: float  # w1, w3
    mlp_out: float  # w2
    embedding: float
    output: float  # lm_head; tied: the embedding's (lm_head initialises the shared weight)


@dataclass(frozen=True)
class Plan:
    module: str
    function: str
    flavor: str
    groups: tuple[PatternGroup, ...]
    init: InitStds
    fused_qkv: bool
    tied: bool
    optimizer_name: str
    decay_type: str
    decay_ratio: float | None
    min_lr_factor: float
    max_norm: float
    mixed_precision: str
    dp_shard: int
    norm_eps: float
    rope_theta: float
    notes: tuple[str, ...]


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)


def _same_numbers(a: ClassGroup, b: ClassGroup, init: bool = True) -> bool:
    return (_same(a.lr, b.lr) and _same(a.weight_decay, b.weight_decay) and _same(a.eps, b.eps)
            and (not init or _same(a.init_std, b.init_std)))


def lowered_kinds(resolved) -> tuple[dict[str, ClassGroup], list[str]]:
    """Every kind's numbers (``resolved.kind_coupled``) after lowering the multipliers, and the notes.

    A kind whose multiplier (``recipec.kinds.MULTIPLIER_OF``) is not 1 gets it folded into its weight
    (init std, LR × c, eps and coupled WD ÷ c), except the embedding when tied (a gap, recipec.frameworks.gaps).
    Tied embeddings have no ``output`` kind.
    """
    tied = resolved.shape.tied_embeddings
    m = resolved.multipliers
    notes: list[str] = []
    kinds: dict[str, ClassGroup] = {}
    applied: dict[str, list[str]] = {}
    for kind in ("q", "k", "v", "o", "mlp_in", "mlp_out", "embedding", "output", "norm", "qk_norm", "final_norm"):
        if kind == "output" and tied:
            continue
        g = ClassGroup(name=kind, cls=KIND_CLASS[kind], **resolved.kind_coupled(kind)._asdict())
        mult = MULTIPLIER_OF.get(kind)
        if mult is not None and not (kind == "embedding" and tied):
            c = getattr(m, mult).value
            if not is_one(c):
                g = lowered(g, c)
                applied.setdefault(mult, []).append(kind)
        kinds[kind] = g
    clip = " (exact for AdamW; global grad-norm clipping now sees that gradient divided by the multiplier)"
    for mult in ("embedding_multiplier", "output_multiplier", "residual_multiplier"):
        if mult in applied:
            c = fmt(getattr(m, mult).value)
            what = "to muP form A on lm_head" if mult == "output_multiplier" else f"into {_LOWERED_INTO[mult]}"
            notes.append(f"{mult}={c} lowered {what}: init std, LR ×{c}, eps and coupled WD ÷{c}{clip}")
        if mult == "embedding_multiplier" and tied:
            notes.append("tied embeddings: the output class has no parameters of its own; the shared weight "
                         "(tok_embeddings.weight is lm_head.weight) trains with the embedding group and is "
                         "initialised with the embedding init std, through lm_head's param_init (torchtitan "
                         "initialises lm_head after tok_embeddings, which skips its own)")
    return kinds, notes


def pattern_groups(kinds: dict[str, ClassGroup], resolved, *, fused_qkv: bool) -> tuple[PatternGroup, ...]:
    """One group per distinct (lr, weight_decay, eps) over the kinds the model has, in ``KINDS`` order."""
    present = tt.module_kinds(fused_qkv=fused_qkv, tied=resolved.shape.tied_embeddings, qk_norm=resolved.shape.qk_norm)
    buckets: list[list[str]] = []
    for kind in present:
        for b in buckets:
            if _same_numbers(kinds[b[0]], kinds[kind], init=False):
                b.append(kind)
                break
        else:
            buckets.append([kind])
    out = []
    m = resolved.multipliers
    for b in buckets:
        first = kinds[b[0]]
        by_mult: dict[str, list[str]] = {}
        for k in b:
            if not is_one(kinds[k].scale):
                by_mult.setdefault(MULTIPLIER_OF[k], []).append(k)
        low = "; ".join(f"{mult} {fmt(getattr(m, mult).value)} ({', '.join(ks)})" for mult, ks in by_mult.items())
        name = "+".join(b)
        group = ClassGroup(name=name, cls=first.cls, lr=first.lr, weight_decay=first.weight_decay, eps=first.eps,
                           init_std=first.init_std, scale=first.scale)
        out.append(PatternGroup(group=group, kinds=tuple(b), pattern=tt.pattern(b, fused_qkv=fused_qkv), lowered=low))
    return tuple(out)


def plan(ctx: RenderContext) -> Plan:
    from recipec.diagnostics import Diagnostic, RecipecError

    r = ctx.resolved
    if r.optimizer.name not in ("adamw", "adam"):
        raise RecipecError(Diagnostic(f"torchtitan target: optimizer {r.optimizer.name!r} is not supported "
                                      "(torchtitan's container builds Adam and AdamW)", path="optimizer.name"))
    kinds, notes = lowered_kinds(r)
    fused = _same_numbers(kinds["q"], kinds["k"]) and _same_numbers(kinds["q"], kinds["v"])
    gs = gaps("torchtitan", r)
    if not fused:
        notes.append("q, k and v resolve to different numbers: the attention uses unfused projections "
                     "(make_gqa_config(fuse_qkv=False): qkv_linear.wq, .wk, .wv), each in its own kind's group")
    notes += [g.note for g in gs]
    groups = pattern_groups(kinds, r, fused_qkv=fused)
    if r.optimizer.name == "adam" and any(g.group.weight_decay > 0 for g in groups):
        notes.append("optimizer adam with weight decay: torch Adam applies it as L2 regularisation, not decoupled")
    s = r.schedule
    decay_ratio, decay_type, min_lr = None, "cosine" if s.decay == "cosine" else "linear", s.min_lr_ratio
    if s.decay == "wsd":
        decay_ratio = s.decay_steps / s.total_steps
    elif s.decay == "constant":
        min_lr = 1.0
    max_norm = r.optimizer.grad_clip
    if not max_norm:
        notes.append("grad_clip is off in the recipe; torchtitan always clips, so max_norm is set to 1e30")
        max_norm = 1e30
    cl = r.cluster
    dp_shard = cl.world_size // (cl.tensor_parallel * cl.pipeline_parallel * cl.context_parallel)
    tied = r.shape.tied_embeddings
    init = InitStds(q=kinds["q"].init_std, kv=kinds["k"].init_std, o=kinds["o"].init_std,
                    mlp_in=kinds["mlp_in"].init_std, mlp_out=kinds["mlp_out"].init_std,
                    embedding=kinds["embedding"].init_std,
                    output=kinds["embedding"].init_std if tied else kinds["output"].init_std)
    return Plan(module=MODULE, function=FUNCTION, flavor=r.size, groups=groups, init=init, fused_qkv=fused, tied=tied,
                optimizer_name="AdamW" if r.optimizer.name == "adamw" else "Adam", decay_type=decay_type,
                decay_ratio=decay_ratio, min_lr_factor=min_lr, max_norm=float(max_norm),
                mixed_precision="float32" if r.precision == "fp32" else "bfloat16", dp_shard=dp_shard,
                norm_eps=r.shape.norm_eps, rope_theta=r.shape.rope_theta,
                notes=tuple(notes))


def render(ctx: RenderContext) -> TargetOutput:
    from recipec.render.env import render_template

    p = plan(ctx)
    text = render_template("torchtitan_config.py.j2", header=ctx.header("#"), r=ctx.resolved, plan=p)
    command = LaunchCommand(target="torchtitan", module="torchtitan.train",
                            args=("--module", MODULE, "--config", FUNCTION), pythonpath_out=True)
    return TargetOutput(files=(RenderedFile(f"{MODULE}.py", text),), command=command, notes=p.notes)
