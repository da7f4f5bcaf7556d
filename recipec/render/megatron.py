"""Megatron-LM: ``pretrain_gpt.py`` arguments (in the launch scripts) and a small pretrain wrapper.

The arguments use megatron-core's native muP (``--use-mup --mup-base-hidden-size``): the readout and
embedding multipliers and the attention scale (``--mup-base-head-dim`` is a float, so
``sqrt(base_head_dim) / head_dim`` is the resolved scale). ``--lr``, ``--adam-eps`` and
``--init-method-std`` are set so that megatron-core's own muP division (LR and eps ÷ width ratio, init
std ÷ √width ratio) lands on kind q, ``--weight-decay`` is q's coupled WD, ``--embedding-init-method-std``
the embedding's init. What the arguments cannot express, the wrapper ``megatron_pretrain.py`` does
(megatron-core 0.19.2, names from ``recipec.frameworks.megatron``):

- one ``config_overrides`` group per parameter kind (max_lr, min_lr, wd_mult, eps), replacing
  megatron-core's standard and muP overrides so that nothing conflicts — by module name, so the untied
  readout (which ``--use-mup`` marks ``is_embedding_parameter``) is kind ``output``;
- the residual multiplier, which Megatron lacks, lowered into ``linear_proj`` and ``linear_fc2`` (muP form
  A: init std and LR × c, eps and coupled WD ÷ c; see ``recipec.render.classes``);
- after megatron-core builds the model, every matrix but the embedding re-drawn from N(0, the kind's
  std) (megatron-core gives the branch outputs σ/√(2·L·m) and the untied readout the embedding's std),
  and the readout's logit multiplier set to the resolved one (muP turns 1.0 into 1/width_mult).

Then it runs Megatron-LM's ``pretrain_gpt.py``.

Mixture of experts (``model.moe``; paths inside the installed ``megatron`` package): ``--num-experts``,
``--moe-router-topk``, ``--moe-ffn-hidden-size`` (one expert), ``--moe-shared-expert-intermediate-size`` = shared
experts × expert size (one MLP, transformer_config.py:1637-1650), ``--moe-router-score-function``,
``--moe-router-load-balancing-type aux_loss --moe-aux-loss-coeff c`` (``none`` when c = 0; training/arguments.py:
3365-3370), ``--expert-model-parallel-size`` = ``cluster.expert_parallel`` (num_experts % EP == 0,
arguments.py:1600-1604) with the ``alltoall`` dispatcher when EP > 1; ``--moe-router-pre-softmax`` for a softmax top-1
router (TransformerConfig refuses it otherwise, transformer_config.py:2329-2336). No ``--moe-grouped-gemm``: the
experts are SequentialMLP with the local and the Transformer Engine specs alike. The router, each routed expert's
linear_fc1/linear_fc2 and the shared experts get their kinds' config_overrides and init like every other
matrix (names: ``recipec.frameworks.megatron``). megatron-core's ``--use-mup`` has nothing MoE-specific: it treats
the router (2-D, not ``is_embedding_parameter``) as a hidden matrix, LR and eps ÷ width_mult
(core/optimizer/__init__.py:210-295) and init std ÷ √width_mult (transformer_config.py:2255-2258); the wrapper
replaces those overrides and that init with the router kind's own values (class ``output``, as recipec resolves
it). A router multiplier other than 1 is lowered into the router (form A, like the residual multiplier).

Muon (``optimizer.muon``) is refused (exit 2, located at ``optimizer.muon``; a gap in the one list). What I read in
megatron-core 0.19.2: ``--optimizer muon`` goes to ``_get_megatron_emerging_optimizer``
(core/optimizer/__init__.py:725-985), which raises ImportError without the external ``emerging_optimizers`` package
(l.756-760; megatron-core does not depend on it, and it is not installed here, so recipec inspect could not build
the optimizer and read any value back). Its param groups come from the same ``config_overrides`` plus a default
``{'optimizer': 'adam'}`` for embeddings/output and non-2-D tensors (l.800-818; emerging_optimizers.py:128-130,
465-476), so per-kind LR/WD for both parts, and the router on Adam, would be expressible through the wrapper; the
scale modes map as ``adjust_lr: original`` → ``--muon-scale-mode shape_scaling`` (√max(1, out/in)) and
``match_rms_adamw`` → ``spectral`` (√max(out, in)) with ``--muon-extra-scale-factor 0.2`` (emerging_optimizers.py:
196-209; the factor functions themselves live in emerging_optimizers). What cannot be expressed: TensorParallelMuon
splits only ``linear_qkv`` into q/k/v before Newton–Schulz (``muon_split_qkv``, emerging_optimizers.py:294-324,
optimizer_config.py:263); ``linear_fc1`` holds gate and up in one tensor (and so does every expert's and the
shared experts' linear_fc1), so Muon orthogonalises [gate; up] as one (2·ffn × width) matrix, a different update
from recipec's mlp_in / expert_in / shared_in (separate gate and up matrices, as torch.optim.Muon trains them)
with a different shape factor. Use ``-t neutral`` (param_groups.json) or a target that renders Muon.

Floats derived here (products, ratios) are rounded to 15
significant digits so that their shortest repr is clean (``0.0006``, not ``0.0006000000000000001``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from recipec.frameworks import fmt, is_one
from recipec.frameworks import megatron as mf
from recipec.frameworks.gaps import gaps
from recipec.kinds import BRANCH_OUT, KINDS, MOE_KINDS, present
from recipec.render import LaunchCommand, RenderContext, RenderedFile, TargetOutput

WRAPPER = "megatron_pretrain.py"
# The optimizer groups the wrapper writes: every kind a KIND_RULES entry names (linear_qkv is kind q).
GROUP_KINDS: tuple[str, ...] = tuple(k for k in KINDS if k in {kind for _, kind in mf.KIND_RULES})
MODULES: dict[str, str] = {
    "q": "linear_qkv (q, k and v in one tensor)", "k": "linear_qkv, k rows", "v": "linear_qkv, v rows",
    "o": "linear_proj", "mlp_in": "linear_fc1", "mlp_out": "linear_fc2",
    "embedding": "embedding.word_embeddings", "output": "output_layer", "norm": "input/pre_mlp layernorms",
    "qk_norm": "q_layernorm, k_layernorm", "final_norm": "decoder.final_layernorm", "bias": "linear biases",
    "expert_in": "mlp.experts: each expert's linear_fc1", "expert_out": "mlp.experts: each expert's linear_fc2",
    "shared_in": "mlp.shared_experts.linear_fc1", "shared_out": "mlp.shared_experts.linear_fc2",
    "router": "mlp.router",
}


def model_kinds(shape, kinds) -> tuple[str, ...]:
    """``kinds`` as the wrapper of a model of ``shape`` writes them: an MoE model's MoE kinds that it has instead of
    mlp_in / mlp_out, a dense model's kinds without the MoE ones (the others whether present or not, as before)."""
    have = set(present(shape))
    if shape.moe:
        return tuple(k for k in kinds if k not in ("mlp_in", "mlp_out") and (k not in MOE_KINDS or k in have))
    return tuple(k for k in kinds if k not in MOE_KINDS)


@dataclass(frozen=True)
class Override:
    kind: str
    modules: str  # what it covers, for the comment
    max_lr: float
    min_lr: float
    wd_mult: float
    eps: float
    scale: float = 1.0  # the multiplier lowered into it (1.0: none)


@dataclass(frozen=True)
class Plan:
    args: tuple[str, ...]
    base_weight_decay: float
    overrides: tuple[Override, ...]
    init_std: tuple[tuple[str, float, str], ...]  # (kind, std, comment) for the matrices the wrapper re-initialises
    output_multiplier: float
    kind_rules: tuple[tuple[str, str], ...]  # (regex as a Python literal, kind)
    notes: tuple[str, ...]
    moe: bool = False
    replicated: tuple[str, ...] = ()  # kinds whose tensor every tensor-parallel rank holds whole (MoE: the router)
    expert_kinds: tuple[str, ...] = ()  # kinds that differ per expert-parallel rank (the routed experts)


MUON_REFUSAL = (
    "megatron target: optimizer.muon is not rendered: megatron-core 0.19.2's --optimizer muon orthogonalises "
    "linear_fc1 (gate and up in one tensor, also in every expert) as ONE matrix, where recipec's mlp_in / expert_in / "
    "shared_in are separate gate and up matrices (it splits only linear_qkv), and it needs the external "
    "emerging_optimizers package, which megatron-core does not depend on and recipec inspect cannot build")


def clean(x: float) -> float:
    """A derived float rounded to 15 significant digits, so that its repr is the short one."""
    return float(f"{x:.15g}")


def _num(x) -> str:
    return repr(float(x)) if isinstance(x, float) else str(x)


def _regex_literal(rx: str) -> str:
    """A regex as a raw-string Python literal where it can be one (no quote, no trailing backslash)."""
    return f"r'{rx}'" if "'" not in rx and "\n" not in rx and not rx.endswith("\\") else repr(rx)


def _base_head_dim(r) -> float | int:
    """megatron-core's muP softmax scale is sqrt(mup_base_head_dim) / kv_channels (power 1): the resolved scale s
    needs base_head_dim = (s · head_dim)², a float argument (an integer when it is one)."""
    b = clean((r.multipliers.attn_logit_scale.value * r.shape.head_dim) ** 2)
    return int(b) if b.is_integer() else b


def plan(ctx: RenderContext) -> Plan:
    from recipec.diagnostics import Diagnostic, RecipecError

    r = ctx.resolved
    s, sh, opt, cl = r.schedule, r.shape, r.optimizer, r.cluster
    if opt.name not in ("adamw", "adam"):
        raise RecipecError(Diagnostic(f"megatron target: optimizer {opt.name!r} is not rendered yet (Adam/AdamW only)",
                                      path="optimizer.name"))
    if r.muon is not None:
        raise RecipecError(Diagnostic(MUON_REFUSAL, path="optimizer.muon",
                                      hint="compile this recipe for -t neutral (param_groups.json) or another target "
                                           "that renders Muon, or drop optimizer.muon for Megatron"))
    notes: list[str] = []
    width_mult = sh.width / r.proxy_shape.width
    res = r.multipliers.residual_multiplier.value
    min_ratio = 1.0 if s.decay == "constant" else s.min_lr_ratio

    router_mult = r.multipliers.router_multiplier
    router_c = 1.0 if router_mult is None or is_one(router_mult.value) else router_mult.value

    def lowered(kind: str):
        v = r.kind_coupled(kind)
        c = res if kind in BRANCH_OUT and not is_one(res) else 1.0
        if kind == "router":
            c = router_c
        if c == 1.0:
            return v.lr, v.weight_decay, v.eps, v.init_std, c
        return (clean(v.lr * c), clean(v.weight_decay / c), clean(v.eps / c),
                None if v.init_std is None else clean(v.init_std * c), c)

    values = {k: lowered(k) for k in KINDS}
    group_kinds = model_kinds(sh, GROUP_KINDS)
    q = r.kind_coupled("q")
    base_wd = q.weight_decay if q.weight_decay > 0 else max(values[k][1] for k in group_kinds)

    def what(kind: str, rows: bool = False) -> str:
        where = "linear_qkv, q rows" if rows and kind == "q" else MODULES[kind]
        tied = " (none: tied to the embedding)" if kind == "output" and sh.tied_embeddings else ""
        lowered_what = "router" if kind == "router" else "residual"
        return where + tied + (f", {lowered_what} multiplier lowered" if values[kind][4] != 1.0 else "")

    overrides = tuple(
        Override(kind=k, modules=what(k), max_lr=lr, min_lr=clean(lr * min_ratio),
                 wd_mult=clean(wd / base_wd) if base_wd > 0 else 1.0, eps=eps, scale=c)
        for k, (lr, wd, eps, _, c) in ((k, values[k]) for k in group_kinds))
    init_std = tuple((k, values[k][3], what(k, rows=True)) for k in model_kinds(sh, mf.REINIT)
                     if values[k][3] is not None)

    a: list[str] = [
        "--num-layers", _num(sh.depth), "--hidden-size", _num(sh.width), "--num-attention-heads", _num(sh.heads),
        "--kv-channels", _num(sh.head_dim), "--ffn-hidden-size", _num(sh.ffn_hidden),
    ]
    if sh.kv_heads != sh.heads:
        a += ["--group-query-attention", "--num-query-groups", _num(sh.kv_heads)]
    theta = sh.rope_theta
    a += ["--seq-length", _num(sh.seq_len), "--max-position-embeddings", _num(sh.seq_len),
          "--position-embedding-type", "rope", "--rotary-base", _num(round(theta)),
          "--normalization", "RMSNorm" if sh.norm == "rmsnorm" else "LayerNorm",
          "--norm-epsilon", _num(sh.norm_eps), "--swiglu", "--vocab-size", _num(sh.vocab_size)]
    if not sh.bias:
        a.append("--disable-bias-linear")
    if not sh.tied_embeddings:
        a.append("--untie-embeddings-and-output-weights")
    if sh.qk_norm:
        a.append("--qk-layernorm")
    if sh.moe:
        a += _moe_args(r, notes)
    # megatron-core's muP: q/k/v/fc1 LR and eps ÷ width_mult, their init std ÷ sqrt(width_mult).
    a += ["--use-mup", "--mup-base-hidden-size", _num(r.proxy_shape.width)]
    out_mult = r.multipliers.output_multiplier.value
    a += ["--mup-output-mult", _num(out_mult), "--mup-embedding-mult", _num(r.multipliers.embedding_multiplier.value)]
    a += ["--mup-base-head-dim", _num(_base_head_dim(r)), "--mup-attn-scale-power", "1.0"]
    if q.init_std is not None:
        a += ["--init-method-std", _num(clean(q.init_std * math.sqrt(width_mult)))]
    emb_std = r.kind_coupled("embedding").init_std
    if emb_std is not None:
        a += ["--embedding-init-method-std", _num(emb_std)]
    a += ["--lr", _num(clean(q.lr * width_mult)), "--min-lr", _num(clean(q.lr * width_mult * min_ratio)),
          "--adam-eps", _num(clean(q.eps * width_mult))]
    style = {"cosine": "cosine", "linear": "linear", "wsd": "WSD", "constant": "constant"}[s.decay]
    a += ["--lr-decay-style", style, "--lr-warmup-iters", _num(s.warmup_steps), "--lr-decay-iters", _num(s.total_steps),
          "--train-iters", _num(s.total_steps)]
    if s.decay == "wsd":
        a += ["--lr-wsd-decay-style", "linear", "--lr-wsd-decay-iters", _num(s.decay_steps)]
    a += ["--weight-decay", _num(base_wd), "--adam-beta1", _num(opt.betas[0]), "--adam-beta2", _num(opt.betas[1]),
          "--clip-grad", _num(float(opt.grad_clip or 0.0))]
    a += ["--micro-batch-size", _num(r.batch.micro_batch), "--global-batch-size", _num(r.batch.global_sequences),
          "--tensor-model-parallel-size", _num(cl.tensor_parallel),
          "--pipeline-model-parallel-size", _num(cl.pipeline_parallel),
          "--context-parallel-size", _num(cl.context_parallel), "--use-distributed-optimizer"]
    if r.precision == "bf16":
        a.append("--bf16")
    elif r.precision == "fp16":
        a.append("--fp16")
    elif r.precision == "fp8":
        a += ["--bf16", "--fp8-format", "hybrid"]
    notes += [g.note for g in gaps("megatron", r)]
    if router_c != 1.0:
        notes.append(f"router_multiplier={fmt(router_c)} lowered into mlp.router: init std, LR ×{fmt(router_c)}, eps "
                     f"and coupled WD ÷{fmt(router_c)} (Megatron's router has no logit multiplier)")
    if not is_one(res):
        notes.append(f"residual_multiplier={fmt(res)} lowered into linear_proj and linear_fc2: init std, LR "
                     f"×{fmt(res)}, eps and coupled WD ÷{fmt(res)} (exact for AdamW; global grad-norm clipping now "
                     "sees their gradients divided by the multiplier)")
    if is_one(out_mult) and not is_one(width_mult):
        notes.append("output_multiplier=1: megatron_pretrain.py sets the model's mup_output_mult back to 1.0 "
                     f"(megatron-core's muP makes --mup-output-mult 1.0 mean 1/width_mult = {fmt(1 / width_mult)})")
    if sh.moe:
        redrawn = "linear_qkv (per q/k/v rows), linear_proj, mlp.router, every expert's linear_fc1 and linear_fc2" + (
            ", mlp.shared_experts" if sh.shared_experts else "") + ("" if sh.tied_embeddings else " and output_layer")
    else:
        redrawn = "linear_qkv (per q/k/v rows), linear_proj, linear_fc1, linear_fc2" + (
            "" if sh.tied_embeddings else " and output_layer")
    notes.append(f"megatron_pretrain.py re-draws {redrawn} from N(0, the kind's std) after megatron-core builds the "
                 "model (megatron-core's own muP init gives the branch outputs sigma/sqrt(2·layers·width_mult) and "
                 "the readout the embedding's std)")
    notes.append("per-kind LR, eps and weight decay come from megatron_pretrain.py's config_overrides; running "
                 "pretrain_gpt.py directly gets only kind q's numbers right (and megatron-core's own init)")
    return Plan(args=tuple(a), base_weight_decay=base_wd, overrides=overrides, init_std=init_std,
                output_multiplier=out_mult,
                kind_rules=tuple((_regex_literal(rx), k) for rx, k in mf.KIND_RULES if model_kinds(sh, (k,))),
                notes=tuple(notes), moe=sh.moe, replicated=mf.TP_REPLICATED if sh.moe else (),
                expert_kinds=mf.EXPERT_PARALLEL if sh.moe else ())


def _moe_args(r, notes: list[str]) -> list[str]:
    """megatron-core's MoE arguments for a mixture-of-experts recipe (every block an MoE layer)."""
    sh, ep = r.shape, r.cluster.expert_parallel
    a = ["--num-experts", _num(sh.num_experts), "--moe-router-topk", _num(sh.top_k),
         "--moe-ffn-hidden-size", _num(sh.expert_ffn_hidden)]
    if sh.shared_experts:
        # the shared experts are one MLP of num_shared × expert size (shared_experts.py; transformer_config.py:1637)
        a += ["--moe-shared-expert-intermediate-size", _num(sh.shared_experts * sh.expert_ffn_hidden)]
    score = r.moe.router_score
    a += ["--moe-router-score-function", score]
    if sh.top_k == 1 and score == "softmax":
        # TransformerConfig refuses softmax after a top-1 selection (zero gradient, transformer_config.py:2330-2336)
        a.append("--moe-router-pre-softmax")
    coeff = r.moe.aux_loss_coeff
    if coeff > 0:
        a += ["--moe-router-load-balancing-type", "aux_loss", "--moe-aux-loss-coeff", _num(float(coeff))]
    else:
        a += ["--moe-router-load-balancing-type", "none"]
    a += ["--expert-model-parallel-size", _num(ep)]
    if ep > 1:
        a += ["--moe-token-dispatcher-type", "alltoall"]
    how = ("softmax over all experts, then the top-1 (--moe-router-pre-softmax)" if sh.top_k == 1 and score == "softmax"
           else "top-k of the logits, softmax over those k" if score == "softmax"
           else "sigmoid of the logits, top-k, " + ("renormalised to sum 1" if sh.top_k > 1 else "not renormalised"))
    notes.append(f"MoE: {sh.num_experts} experts, top-{sh.top_k} ({how}), experts of {sh.expert_ffn_hidden}"
                 + (f", {sh.shared_experts} shared (one MLP of {sh.shared_experts * sh.expert_ffn_hidden})"
                    if sh.shared_experts else "")
                 + (f", aux loss {fmt(float(coeff))} (GShard/Switch, --moe-router-load-balancing-type aux_loss)"
                    if coeff > 0 else ", no load-balancing loss")
                 + f", expert parallel {ep}" + (" (alltoall token dispatcher)" if ep > 1 else "")
                 + "; experts as SequentialMLP (no --moe-grouped-gemm: Transformer Engine's grouped experts are "
                   "faster, and megatron_pretrain.py's kinds know their linear_fc1.weight<i> names too)")
    return a


def render(ctx: RenderContext) -> TargetOutput:
    from recipec.render.env import render_template

    p = plan(ctx)
    text = render_template("megatron_pretrain.py.j2", header=ctx.header("#"), r=ctx.resolved, plan=p,
                           version=mf.VERSION, qkv=mf.QKV_FUSED)
    command = LaunchCommand(target="megatron", script=WRAPPER, args=p.args,
                            env=(("CUDA_DEVICE_MAX_CONNECTIONS", "1"),))
    return TargetOutput(files=(RenderedFile(WRAPPER, text, executable=True),), command=command, notes=p.notes)
