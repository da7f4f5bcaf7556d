"""Megatron-LM: ``pretrain_gpt.py`` arguments (in the launch scripts) and a small pretrain wrapper.

The arguments use Megatron's native muP (``--use-mup --mup-base-hidden-size``): init scaling, the
readout and embedding multipliers and the attention scale. ``--lr`` and ``--adam-eps`` are set so
that Megatron's own muP division (hidden LR and eps ÷ width ratio) lands on the resolved hidden
values. What the arguments cannot express — per-class LR, eps and weight decay for the embedding,
output and vector classes, and hidden-matrix WD scaling — the wrapper ``megatron_pretrain.py``
passes as ``config_overrides`` (one explicit override per class, replacing Megatron's standard and
muP overrides so that nothing conflicts), then runs Megatron-LM's ``pretrain_gpt.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from recipec.render import LaunchCommand, RenderContext, RenderedFile, TargetOutput
from recipec.render.classes import ClassGroup, class_groups
from recipec.render.gaps import gaps, megatron_base_head_dim, megatron_init_method_std

WRAPPER = "megatron_pretrain.py"


@dataclass(frozen=True)
class Override:
    group: ClassGroup
    max_lr: float
    min_lr: float
    wd_mult: float


@dataclass(frozen=True)
class Plan:
    args: tuple[str, ...]
    base_weight_decay: float
    overrides: tuple[Override, ...]
    notes: tuple[str, ...]


def _num(x) -> str:
    return repr(float(x)) if isinstance(x, float) else str(x)


def plan(ctx: RenderContext) -> Plan:
    from recipec.diagnostics import Diagnostic, RecipecError

    r = ctx.resolved
    s, sh, opt, cl = r.schedule, r.shape, r.optimizer, r.cluster
    if opt.name not in ("adamw", "adam"):
        raise RecipecError(Diagnostic(f"megatron target: optimizer {opt.name!r} is not rendered yet (Adam/AdamW only)",
                                      path="optimizer.name"))
    groups = {g.name: g for g in class_groups(r)}
    notes: list[str] = []
    width_mult = sh.width / r.proxy_shape.width
    hidden = groups["hidden"]
    base_wd = max(g.weight_decay for g in groups.values())
    overrides = tuple(
        Override(group=g, max_lr=g.lr, min_lr=g.lr * s.min_lr_ratio,
                 wd_mult=(g.weight_decay / base_wd) if base_wd > 0 else 1.0)
        for g in groups.values())

    a: list[str] = [
        "--num-layers", _num(sh.depth), "--hidden-size", _num(sh.width), "--num-attention-heads", _num(sh.heads),
        "--kv-channels", _num(sh.head_dim), "--ffn-hidden-size", _num(sh.ffn_hidden),
    ]
    if sh.kv_heads != sh.heads:
        a += ["--group-query-attention", "--num-query-groups", _num(sh.kv_heads)]
    theta = float(ctx.recipe.model.rope_theta)
    a += ["--seq-length", _num(sh.seq_len), "--max-position-embeddings", _num(sh.seq_len),
          "--position-embedding-type", "rope", "--rotary-base", _num(round(theta)),
          "--normalization", "RMSNorm" if sh.norm == "rmsnorm" else "LayerNorm",
          "--norm-epsilon", _num(float(ctx.recipe.model.norm_eps)), "--swiglu", "--vocab-size", _num(sh.vocab_size)]
    if not sh.bias:
        a.append("--disable-bias-linear")
    if not sh.tied_embeddings:
        a.append("--untie-embeddings-and-output-weights")
    if sh.qk_norm:
        a.append("--qk-layernorm")
    # Megatron's muP: hidden LR and eps ÷ width_mult, hidden init std ÷ sqrt(width_mult).
    a += ["--use-mup", "--mup-base-hidden-size", _num(r.proxy_shape.width)]
    out_mult = r.multipliers.output_multiplier.value
    a += ["--mup-output-mult", _num(out_mult), "--mup-embedding-mult", _num(r.multipliers.embedding_multiplier.value)]
    # Megatron's muP softmax scale is sqrt(mup_base_head_dim) / kv_channels**power; with power 1 the
    # resolved scale s needs base_head_dim = (s * head_dim)**2, an integer for both 1/sqrt(d) and muP's 1/d.
    base_head_dim = megatron_base_head_dim(r)
    a += ["--mup-base-head-dim", _num(base_head_dim), "--mup-attn-scale-power", "1.0"]
    init_std = megatron_init_method_std(r)
    if init_std is not None:
        a += ["--init-method-std", _num(init_std)]
    a += ["--lr", _num(hidden.lr * width_mult), "--min-lr", _num(hidden.lr * width_mult * s.min_lr_ratio),
          "--adam-eps", _num(hidden.eps * width_mult)]
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
    notes += [g.note for g in gaps("megatron", r, theta)]
    notes.append("per-class LR, eps and weight decay come from megatron_pretrain.py's config_overrides; "
                 "running pretrain_gpt.py directly gets only the hidden class right")
    return Plan(args=tuple(a), base_weight_decay=base_wd, overrides=overrides, notes=tuple(notes))


def render(ctx: RenderContext) -> TargetOutput:
    from recipec.render.env import render_template

    p = plan(ctx)
    text = render_template("megatron_pretrain.py.j2", header=ctx.header("#"), r=ctx.resolved, plan=p)
    command = LaunchCommand(target="megatron", script=WRAPPER, args=p.args,
                            env=(("CUDA_DEVICE_MAX_CONNECTIONS", "1"),))
    return TargetOutput(files=(RenderedFile(WRAPPER, text, executable=True),), command=command, notes=p.notes)
