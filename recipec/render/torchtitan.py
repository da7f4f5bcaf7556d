"""torchtitan 0.3: a Python config module (``--module recipec_torchtitan --config recipec_config``).

Per-class LR / WD / eps are native (``ParamGroupConfig`` regex patterns over the Llama3 parameter
names, first match wins). What torchtitan's Llama3 cannot express is lowered to an equivalent form
(output, embedding and residual-branch multipliers folded into their weights, see
``recipec.render.classes``) or reported as a note naming the value.
"""

from __future__ import annotations

from dataclasses import dataclass

from recipec.render import LaunchCommand, RenderContext, RenderedFile, TargetOutput
from recipec.render.classes import ClassGroup, class_groups, fmt, is_one, lowered
from recipec.render.gaps import gaps

MODULE = "recipec_torchtitan"
FUNCTION = "recipec_config"

# Patterns tolerate wrapper prefixes (activation checkpointing, compile) by matching on suffixes.
PATTERNS = {
    "vector": r"(^|\.)(attention_norm|ffn_norm|q_norm|k_norm|norm)\.weight$|\.bias$",
    "embedding": r"(^|\.)tok_embeddings\.weight$",
    "output": r"(^|\.)lm_head\.weight$",
    "hidden_branch_out": r"(^|\.)(attention\.wo|feed_forward\.w2)\.weight$",
    "hidden": r"(^|\.)(attention\.qkv_linear\.\w+|attention\.wo|feed_forward\.w[123])\.weight$",
}
GROUP_ORDER = ("vector", "embedding", "output", "hidden_branch_out", "hidden")


@dataclass(frozen=True)
class PatternGroup:
    group: ClassGroup
    pattern: str


@dataclass(frozen=True)
class InitStds:
    qkv: float
    branch_out: float
    embedding: float
    output: float


@dataclass(frozen=True)
class Plan:
    module: str
    function: str
    flavor: str
    groups: tuple[PatternGroup, ...]
    init: InitStds
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


def lowered_groups(resolved) -> tuple[dict[str, ClassGroup], list[str]]:
    """The torchtitan groups by name after lowering the multipliers, with notes."""
    base = {g.name: g for g in class_groups(resolved)}
    m = resolved.multipliers
    notes: list[str] = []
    groups: dict[str, ClassGroup] = {"vector": base["vector"], "embedding": base["embedding"]}
    clip = " (exact for AdamW; global grad-norm clipping now sees that gradient divided by the multiplier)"
    emb = m.embedding_multiplier.value
    if not is_one(emb) and not resolved.shape.tied_embeddings:  # tied: a gap (recipec.render.gaps)
        groups["embedding"] = lowered(base["embedding"], emb)
        notes.append(f"embedding_multiplier={fmt(emb)} lowered into tok_embeddings: init std, LR ×{fmt(emb)}, "
                     f"eps and coupled WD ÷{fmt(emb)}{clip}")
    out_mult = m.output_multiplier.value
    if resolved.shape.tied_embeddings:  # a multiplier on the shared weight is a gap (recipec.render.gaps)
        notes.append("tied embeddings: the output class has no parameters of its own; the shared weight "
                     "trains with the embedding group")
    else:
        groups["output"] = lowered(base["output"], out_mult) if not is_one(out_mult) else base["output"]
        if not is_one(out_mult):
            notes.append(f"output_multiplier={fmt(out_mult)} lowered to muP form A on lm_head: init std, LR "
                         f"×{fmt(out_mult)}, eps and coupled WD ÷{fmt(out_mult)}{clip}")
    res = m.residual_multiplier.value
    if not is_one(res):
        groups["hidden_branch_out"] = lowered(base["hidden"], res, name="hidden_branch_out")
        notes.append(f"residual_multiplier={fmt(res)} lowered into each branch's output projection (attention.wo, "
                     f"feed_forward.w2): init std, LR ×{fmt(res)}, eps and coupled WD ÷{fmt(res)}{clip}")
    groups["hidden"] = base["hidden"]
    notes += [g.note for g in gaps("torchtitan", resolved)]
    return groups, notes


def plan(ctx: RenderContext) -> Plan:
    from recipec.diagnostics import Diagnostic, RecipecError

    r = ctx.resolved
    if r.optimizer.name not in ("adamw", "adam"):
        raise RecipecError(Diagnostic(f"torchtitan target: optimizer {r.optimizer.name!r} is not supported "
                                      "(torchtitan's container builds Adam and AdamW)", path="optimizer.name"))
    groups, notes = lowered_groups(r)
    if r.optimizer.name == "adam" and any(g.weight_decay > 0 for g in groups.values()):
        notes.append("optimizer adam with weight decay: torch Adam applies it as L2 regularisation, not decoupled")
    pattern_groups = tuple(PatternGroup(groups[n], PATTERNS[n]) for n in GROUP_ORDER if n in groups)
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
    # Tied: lm_head's init is unused (the weight is the embedding's); the output class's std is written anyway.
    output = groups.get("output") or next(g for g in class_groups(r) if g.name == "output")
    init = InitStds(qkv=groups["hidden"].init_std, branch_out=groups.get("hidden_branch_out", groups["hidden"]).init_std,
                    embedding=groups["embedding"].init_std, output=output.init_std)
    return Plan(module=MODULE, function=FUNCTION, flavor=r.size, groups=pattern_groups, init=init,
                optimizer_name="AdamW" if r.optimizer.name == "adamw" else "Adam", decay_type=decay_type,
                decay_ratio=decay_ratio, min_lr_factor=min_lr, max_norm=float(max_norm),
                mixed_precision="float32" if r.precision == "fp32" else "bfloat16", dp_shard=dp_shard,
                norm_eps=float(ctx.recipe.model.norm_eps), rope_theta=float(ctx.recipe.model.rope_theta),
                notes=tuple(notes))


def render(ctx: RenderContext) -> TargetOutput:
    from recipec.render.env import render_template

    p = plan(ctx)
    text = render_template("torchtitan_config.py.j2", header=ctx.header("#"), r=ctx.resolved, plan=p)
    command = LaunchCommand(target="torchtitan", module="torchtitan.train",
                            args=("--module", MODULE, "--config", FUNCTION), pythonpath_out=True)
    return TargetOutput(files=(RenderedFile(f"{MODULE}.py", text),), command=command, notes=p.notes)
