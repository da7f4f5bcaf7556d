"""torchtitan 0.3: a Python config module (``--module recipec_torchtitan --config recipec_config``).

Per-kind LR / WD / eps are native: ``ParamGroupConfig`` regex patterns over the Llama3 parameter
names (first match wins), one group per distinct set of numbers, each covering the kinds
(``recipec.kinds``) that resolved to those numbers; the name → kind knowledge is
``recipec.frameworks.torchtitan``. Every matrix gets its own kind's init std through its module's
``param_init``. What torchtitan's Llama3 cannot express is lowered to an equivalent form (output,
embedding and residual-branch multipliers folded into their weights, see ``recipec.render.classes``)
or reported as a note naming the value.

Mixture of experts (``model.moe``): the model is torchtitan's ``Qwen3Model`` built from
``Qwen3TransformerBlock`` configs whose ``moe`` is an ``MoE.Config`` (models/qwen3/model.py:23-66,
models/common/moe.py:364-370) — GQA, the optional qk-norm, tied or untied embeddings and RoPE are the
same configs as the dense Llama3 render; the block's MLP is ``num_experts`` SwiGLU experts of
``expert_ffn_hidden`` (GroupedExperts, moe.py:35-108), a bias-free linear router with the recipe's
``router_score`` and ``top_k`` (TokenChoiceTopKRouter.Config, moe.py:202-211), and ``S`` shared experts
as one FeedForward of hidden ``S·expert_ffn_hidden`` (MoE.Config.shared_experts, moe.py:370, summed at
moe.py:455-460; exact: S SwiGLU MLPs summed are one of the concatenated width). The MoE kinds
(expert_in: w1_EFD + w3_EFD, expert_out: w2_EDF, shared_in: shared_experts.w1 + w3, shared_out:
shared_experts.w2, router: router.gate) join the param groups like every kind (one group per distinct
set of numbers) and each gets its own init std; the residual multiplier is lowered into w2_EDF and
shared_experts.w2 like attention.wo, a router multiplier (when not 1) into router.gate.
``cluster.expert_parallel`` is ``ParallelismConfig.expert_parallel_degree`` (config/configs.py:279-287:
efsdp = dp_shard·cp·tp / ep, so ep must divide dp_shard·cp·tp, and the experts shard on dim 0,
moe_sharding.py:38, so it must divide num_experts — both already refused when the recipe is resolved,
recipec/transfer/batch.py:79-82). Tokens go through the standard all-to-all dispatcher (no capacity,
no dropped tokens; config_utils.py:360-425 ``comm_backend="standard"``), which torchtitan's CUDA-graph
capture does not support under EP (trainer.py:189-209), so
``training.disable_cuda_graphs`` is set when expert_parallel > 1.

Decisions read off torchtitan 0.3.0:

- Top-k gates are renormalised (``route_norm=True``, moe.py:333-335): the recipe's MoE schema does not
  say, and this is what Megatron's default softmax/sigmoid top-k routing and torchtitan's own Qwen3 MoE
  flavours (models/qwen3/__init__.py:174-181) do. ``route_scale`` stays 1.
- ``aux_loss_coeff`` has no counterpart: torchtitan 0.3 has no load-balancing loss. Its
  ``MoE.Config.load_balance_coeff`` is the *aux-loss-free* expert-bias update rate
  (components/optimizer/optimizer.py:510-518: ``expert_bias += coeff·sign(mean − tokens_per_expert)``,
  a bias that only changes which experts are picked, moe.py:310-324), a different method with a
  different unit, so it is not used to stand in for the loss: ``load_balance_coeff=None`` is written
  (no bias balancing; the recipe does not ask for it) and a non-zero ``aux_loss_coeff`` is a gap
  (``recipec.frameworks.gaps``).
- The routed experts compute in bfloat16 whatever the training dtype (moe.py:94-108): with
  ``precision: fp32`` that is a gap.
- Muon is refused (exit 2, located at ``optimizer.muon``), never written as AdamW: torchtitan's Muon is
  ``DistMuon`` (components/optimizer/optimizer.py:142-150 → distributed/flex_shard/dist_muon.py:57), and
  (1) it takes exactly one parameter group (dist_muon.py:336-338) while the container merges every
  ``ParamGroupConfig`` of one optimizer name into one optimizer instance (optimizer.py:206, 229-233), so
  per-kind Muon LR / WD cannot be given (muon-proxy resolves mlp_out apart from q at its sizes);
  (2) it needs DTensor parameters on one CUDA device per process (dist_muon.py:358-368) and a
  ``compute_sharding_by_fqn`` / ``bucket_configs`` plan per parameter name and mesh axis
  (dist_muon.py:169-248; the Kimi recipe builds one, models/kimi_k2_7/config_registry.py:208-378), and it
  refuses tensor and pipeline parallelism there (config_registry.py:380-395) — so the optimizer cannot be
  built on the CPU / meta device, and ``recipec inspect`` could not read back what each parameter gets.
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
                 "residual_multiplier": "each branch's output projection (attention.wo, feed_forward.w2)",
                 "router_multiplier": "the router (moe.router.gate)"}
_RESIDUAL_MOE = ("each branch's output projection (attention.wo, moe.routed_experts.inner_experts.w2_EDF, "
                 "moe.shared_experts.w2)")
# Top-k gate renormalisation (TokenChoiceTopKRouter route_norm): see the module docstring.
ROUTE_NORM = True


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
    mlp_in: float | None  # w1, w3 (dense)
    mlp_out: float | None  # w2 (dense)
    embedding: float
    output: float  # lm_head; tied: the embedding's (lm_head initialises the shared weight)
    expert_in: float | None = None  # moe.routed_experts.inner_experts.w1_EFD, w3_EFD
    expert_out: float | None = None  # w2_EDF
    shared_in: float | None = None  # moe.shared_experts.w1, w3
    shared_out: float | None = None  # moe.shared_experts.w2
    router: float | None = None  # moe.router.gate


@dataclass(frozen=True)
class MoePlan:
    num_experts: int
    top_k: int
    expert_ffn_hidden: int
    shared_ffn_hidden: int  # shared_experts · expert_ffn_hidden; 0: no shared experts
    score_func: str  # "softmax" | "sigmoid"
    route_norm: bool
    expert_parallel: int


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
    moe: MoePlan | None = None


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
    sh = resolved.shape
    m = resolved.multipliers
    notes: list[str] = []
    kinds: dict[str, ClassGroup] = {}
    applied: dict[str, list[str]] = {}
    if sh.moe:
        mlp = ("expert_in", "expert_out") + (("shared_in", "shared_out") if sh.shared_experts else ())
    else:
        mlp = ("mlp_in", "mlp_out")
    for kind in ("q", "k", "v", "o", *mlp, "embedding", "output", *(("router",) if sh.moe else ()),
                 "norm", "qk_norm", "final_norm"):
        if kind == "output" and tied:
            continue
        g = ClassGroup(name=kind, cls=KIND_CLASS[kind], **resolved.kind_coupled(kind)._asdict())
        mult = MULTIPLIER_OF.get(kind)
        if mult is not None and not (kind == "embedding" and tied):
            c = _multiplier(m, mult)
            if not is_one(c):
                g = lowered(g, c)
                applied.setdefault(mult, []).append(kind)
        kinds[kind] = g
    clip = " (exact for AdamW; global grad-norm clipping now sees that gradient divided by the multiplier)"
    for mult in ("embedding_multiplier", "output_multiplier", "residual_multiplier", "router_multiplier"):
        if mult in applied:
            c = fmt(_multiplier(m, mult))
            into = _RESIDUAL_MOE if mult == "residual_multiplier" and sh.moe else _LOWERED_INTO[mult]
            what = "to muP form A on lm_head" if mult == "output_multiplier" else f"into {into}"
            notes.append(f"{mult}={c} lowered {what}: init std, LR ×{c}, eps and coupled WD ÷{c}{clip}")
        if mult == "embedding_multiplier" and tied:
            notes.append("tied embeddings: the output class has no parameters of its own; the shared weight "
                         "(tok_embeddings.weight is lm_head.weight) trains with the embedding group and is "
                         "initialised with the embedding init std, through lm_head's param_init (torchtitan "
                         "initialises lm_head after tok_embeddings, which skips its own)")
    return kinds, notes


def _multiplier(m, name: str) -> float:
    """A forward multiplier's value; the router multiplier is absent (1) for a dense recipe."""
    v = getattr(m, name)
    return 1.0 if v is None else v.value


def pattern_groups(kinds: dict[str, ClassGroup], resolved, *, fused_qkv: bool) -> tuple[PatternGroup, ...]:
    """One group per distinct (lr, weight_decay, eps) over the kinds the model has, in ``KINDS`` order."""
    sh = resolved.shape
    present = tt.module_kinds(fused_qkv=fused_qkv, tied=sh.tied_embeddings, qk_norm=sh.qk_norm, moe=sh.moe,
                              shared_experts=bool(sh.shared_experts))
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
        low = "; ".join(f"{mult} {fmt(_multiplier(m, mult))} ({', '.join(ks)})" for mult, ks in by_mult.items())
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
    if r.muon is not None:
        raise RecipecError(Diagnostic(
            f"torchtitan target: Muon ({', '.join(r.muon.kinds)}) cannot be rendered: torchtitan 0.3's DistMuon "
            "takes one parameter group for every Muon matrix (no per-kind Muon LR / weight decay) and needs "
            "DTensor parameters on CUDA with a per-parameter sharding plan, so the optimizer cannot be built "
            "and checked on CPU; recipec does not write an AdamW config for Muon kinds",
            path="optimizer.muon",
            hint="compile the Muon recipe for another target, or drop optimizer.muon for torchtitan"))
    moe = _moe_plan(r) if r.shape.moe else None
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
    def std(kind):
        return kinds[kind].init_std if kind in kinds else None

    init = InitStds(q=kinds["q"].init_std, kv=kinds["k"].init_std, o=kinds["o"].init_std,
                    mlp_in=std("mlp_in"), mlp_out=std("mlp_out"),
                    embedding=kinds["embedding"].init_std,
                    output=kinds["embedding"].init_std if tied else kinds["output"].init_std,
                    expert_in=std("expert_in"), expert_out=std("expert_out"), shared_in=std("shared_in"),
                    shared_out=std("shared_out"), router=std("router"))
    return Plan(module=MODULE, function=FUNCTION, flavor=r.size, groups=groups, init=init, fused_qkv=fused, tied=tied,
                optimizer_name="AdamW" if r.optimizer.name == "adamw" else "Adam", decay_type=decay_type,
                decay_ratio=decay_ratio, min_lr_factor=min_lr, max_norm=float(max_norm),
                mixed_precision="float32" if r.precision == "fp32" else "bfloat16", dp_shard=dp_shard,
                norm_eps=r.shape.norm_eps, rope_theta=r.shape.rope_theta,
                notes=tuple(notes), moe=moe)


def _moe_plan(r) -> MoePlan:
    """The MoE block's settings. torchtitan's expert-parallel constraints (ep divides num_experts and
    dp_shard·cp·tp) are the ones resolve already enforces (recipec.transfer.batch: the experts divide over
    expert_parallel, which divides the GPUs of a pipeline stage)."""
    sh = r.shape
    return MoePlan(num_experts=sh.num_experts, top_k=sh.top_k, expert_ffn_hidden=sh.expert_ffn_hidden,
                   shared_ffn_hidden=sh.shared_experts * sh.expert_ffn_hidden, score_func=r.moe.router_score,
                   route_norm=ROUTE_NORM, expert_parallel=r.cluster.expert_parallel)


def render(ctx: RenderContext) -> TargetOutput:
    from recipec.render.env import render_template

    p = plan(ctx)
    text = render_template("torchtitan_config.py.j2", header=ctx.header("#"), r=ctx.resolved, plan=p)
    command = LaunchCommand(target="torchtitan", module="torchtitan.train",
                            args=("--module", MODULE, "--config", FUNCTION), pythonpath_out=True)
    return TargetOutput(files=(RenderedFile(f"{MODULE}.py", text),), command=command, notes=p.notes)
