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

Then it runs Megatron-LM's ``pretrain_gpt.py``. Floats derived here (products, ratios) are rounded to 15
significant digits so that their shortest repr is clean (``0.0006``, not ``0.0006000000000000001``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from recipec.frameworks import fmt, is_one
from recipec.frameworks import megatron as mf
from recipec.frameworks.gaps import gaps
from recipec.kinds import BRANCH_OUT, KINDS
from recipec.render import LaunchCommand, RenderContext, RenderedFile, TargetOutput

WRAPPER = "megatron_pretrain.py"
# The optimizer groups the wrapper writes: every kind a KIND_RULES entry names (linear_qkv is kind q).
GROUP_KINDS: tuple[str, ...] = tuple(k for k in KINDS if k in {kind for _, kind in mf.KIND_RULES})
MODULES: dict[str, str] = {
    "q": "linear_qkv (q, k and v in one tensor)", "k": "linear_qkv, k rows", "v": "linear_qkv, v rows",
    "o": "linear_proj", "mlp_in": "linear_fc1", "mlp_out": "linear_fc2",
    "embedding": "embedding.word_embeddings", "output": "output_layer", "norm": "input/pre_mlp layernorms",
    "qk_norm": "q_layernorm, k_layernorm", "final_norm": "decoder.final_layernorm", "bias": "linear biases",
}


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
    notes: list[str] = []
    width_mult = sh.width / r.proxy_shape.width
    res = r.multipliers.residual_multiplier.value
    min_ratio = 1.0 if s.decay == "constant" else s.min_lr_ratio

    def lowered(kind: str):
        v = r.kind_coupled(kind)
        c = res if kind in BRANCH_OUT and not is_one(res) else 1.0
        if c == 1.0:
            return v.lr, v.weight_decay, v.eps, v.init_std, c
        return (clean(v.lr * c), clean(v.weight_decay / c), clean(v.eps / c),
                None if v.init_std is None else clean(v.init_std * c), c)

    values = {k: lowered(k) for k in KINDS}
    q = r.kind_coupled("q")
    base_wd = q.weight_decay if q.weight_decay > 0 else max(values[k][1] for k in GROUP_KINDS)

    def what(kind: str, rows: bool = False) -> str:
        where = "linear_qkv, q rows" if rows and kind == "q" else MODULES[kind]
        tied = " (none: tied to the embedding)" if kind == "output" and sh.tied_embeddings else ""
        return where + tied + (", residual multiplier lowered" if values[kind][4] != 1.0 else "")

    overrides = tuple(
        Override(kind=k, modules=what(k), max_lr=lr, min_lr=clean(lr * min_ratio),
                 wd_mult=clean(wd / base_wd) if base_wd > 0 else 1.0, eps=eps, scale=c)
        for k, (lr, wd, eps, _, c) in ((k, values[k]) for k in GROUP_KINDS))
    init_std = tuple((k, values[k][3], what(k, rows=True)) for k in mf.REINIT if values[k][3] is not None)

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
    if not is_one(res):
        notes.append(f"residual_multiplier={fmt(res)} lowered into linear_proj and linear_fc2: init std, LR "
                     f"×{fmt(res)}, eps and coupled WD ÷{fmt(res)} (exact for AdamW; global grad-norm clipping now "
                     "sees their gradients divided by the multiplier)")
    if is_one(out_mult) and not is_one(width_mult):
        notes.append("output_multiplier=1: megatron_pretrain.py sets the model's mup_output_mult back to 1.0 "
                     f"(megatron-core's muP makes --mup-output-mult 1.0 mean 1/width_mult = {fmt(1 / width_mult)})")
    redrawn = "linear_qkv (per q/k/v rows), linear_proj, linear_fc1, linear_fc2" + (
        "" if sh.tied_embeddings else " and output_layer")
    notes.append(f"megatron_pretrain.py re-draws {redrawn} from N(0, the kind's std) after megatron-core builds the "
                 "model (megatron-core's own muP init gives the branch outputs sigma/sqrt(2·layers·width_mult) and "
                 "the readout the embedding's std)")
    notes.append("per-kind LR, eps and weight decay come from megatron_pretrain.py's config_overrides; running "
                 "pretrain_gpt.py directly gets only kind q's numbers right (and megatron-core's own init)")
    return Plan(args=tuple(a), base_weight_decay=base_wd, overrides=overrides, init_std=init_std,
                output_multiplier=out_mult,
                kind_rules=tuple((_regex_literal(rx), k) for rx, k in mf.KIND_RULES), notes=tuple(notes))


def render(ctx: RenderContext) -> TargetOutput:
    from recipec.render.env import render_template

    p = plan(ctx)
    text = render_template("megatron_pretrain.py.j2", header=ctx.header("#"), r=ctx.resolved, plan=p,
                           version=mf.VERSION, qkv=mf.QKV_FUSED)
    command = LaunchCommand(target="megatron", script=WRAPPER, args=p.args,
                            env=(("CUDA_DEVICE_MAX_CONNECTIONS", "1"),))
    return TargetOutput(files=(RenderedFile(WRAPPER, text, executable=True),), command=command, notes=p.notes)
