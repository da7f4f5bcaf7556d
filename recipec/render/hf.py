"""Hugging Face Trainer: TrainingArguments as YAML, and an optimizer hook with the per-kind groups.

The Trainer's own optimizer has one LR and a decay / no-decay split, so ``hf_train.py`` overrides
``create_optimizer`` with ``recipec.torch.optimizers`` (reading ``param_groups.json``): torch.optim.Muon
for the Muon kinds, AdamW for the rest, one object whose ``param_groups`` span both, so the Trainer's
scheduler scales each group's own LR. HF Llama / Qwen3-MoE have no logit or residual multiplier, so
the hook lowers them into the weights (``lower_multipliers=True``).

Model: ``LlamaForCausalLM`` for a dense recipe, ``Qwen3MoeForCausalLM`` for a mixture of experts
(``recipec.frameworks.hf``). What Qwen3-MoE cannot train as the recipe says — shared experts, a
sigmoid router, Muon on its fused 3-D experts — is a gap (``recipec.frameworks.gaps.HF_REFUSED``)
and compile refuses it with the recipe path of the setting.
"""

from __future__ import annotations

from dataclasses import dataclass

from recipec.frameworks import fmt, is_one
from recipec.frameworks.gaps import HF_REFUSED, gaps
from recipec.frameworks.hf import model_class
from recipec.render import LaunchCommand, RenderContext, RenderedFile, TargetOutput
from recipec.render.classes import class_groups
from recipec.render.env import slug

ARGS_FILE = "hf_training_args.yaml"
HOOK_FILE = "hf_train.py"


@dataclass(frozen=True)
class Plan:
    output_dir: str
    lr: float
    weight_decay: float
    eps: float
    scheduler: str
    scheduler_kwargs: tuple[tuple[str, object], ...]
    grad_accum: int
    max_grad_norm: float
    norm_eps: float
    rope_theta: float
    bf16: bool
    fp16: bool
    notes: tuple[str, ...]
    model_class: str = "LlamaForCausalLM"
    muon: bool = False
    # Qwen3-MoE (num_experts 0: dense)
    num_experts: int = 0
    top_k: int = 0
    moe_intermediate_size: int = 0
    norm_topk_prob: bool = True
    router_aux_loss_coef: float = 0.0


# Where each refused gap is set in the recipe (compile's located error).
REFUSED_PATHS = {"moe_shared": "model.moe.shared_experts", "moe_router_score": "model.moe.router_score",
                 "muon_experts": "optimizer.muon.kinds"}


def plan(ctx: RenderContext) -> Plan:
    from recipec.diagnostics import Diagnostic, RecipecError

    r = ctx.resolved
    s = r.schedule
    notes: list[str] = []
    if r.optimizer.name != "adamw":
        raise RecipecError(Diagnostic(f"hf target: optimizer {r.optimizer.name!r} is not rendered yet (AdamW only)",
                                      path="optimizer.name"))
    if r.batch.grad_accum is None:
        raise RecipecError(Diagnostic("hf target: the global batch does not divide into micro batch × data parallel",
                                      path="batch"))
    hidden = class_groups(r)[0]
    kwargs: tuple[tuple[str, object], ...] = ()
    if s.decay == "cosine":
        scheduler, kwargs = "cosine_with_min_lr", (("min_lr_rate", s.min_lr_ratio),)
    elif s.decay == "linear":
        scheduler = "linear"  # a floor LR is a gap (recipec.frameworks.gaps)
    elif s.decay == "wsd":
        scheduler = "warmup_stable_decay"
        kwargs = (("num_decay_steps", s.decay_steps), ("min_lr_ratio", s.min_lr_ratio), ("decay_type", "linear"))
    else:
        scheduler = "constant_with_warmup"
    found = gaps("hf", r)
    for g in found:
        if g.key in HF_REFUSED:
            raise RecipecError(Diagnostic(f"hf target: {g.note}", path=REFUSED_PATHS[g.key]))
    notes += [g.note for g in found]
    sh = r.shape
    moe = getattr(sh, "num_experts", 0) > 0
    if moe:
        notes.append(f"Qwen3MoeForCausalLM: {sh.num_experts} experts, top-{sh.top_k}, moe_intermediate_size "
                     f"{sh.expert_ffn_hidden} in every layer; norm_topk_prob=True (the top-k weights are renormalised "
                     "to sum to 1: the recipe does not say, this is Megatron's and Qwen3-30B-A3B's choice); "
                     + (f"load-balancing loss × {fmt(r.moe.aux_loss_coeff)} (output_router_logits)"
                        if r.moe.aux_loss_coeff else "no load-balancing loss (aux_loss_coeff 0)"))
    if r.muon is not None:
        notes.append(f"torch.optim.Muon (adjust_lr_fn={r.muon.adjust_lr}) trains {', '.join(r.muon.kinds)}; "
                     f"{r.optimizer.name} the rest (recipec.torch.optimizers)")
    m = r.multipliers
    lowered = [name for name, value, ok in (
        ("output_multiplier", m.output_multiplier.value, not r.shape.tied_embeddings),
        ("embedding_multiplier", m.embedding_multiplier.value, not r.shape.tied_embeddings),
        ("residual_multiplier", m.residual_multiplier.value, True)) if ok and not is_one(value)]
    if lowered:
        acts = "it acts" if len(lowered) == 1 else "they act"
        notes.append(f"{', '.join(lowered)} lowered by the hook into the weights {acts} on (LR and init std × c, "
                     "eps and coupled WD ÷ c); call hf_train.init_model(model) once before training from scratch")
    else:
        notes.append("call hf_train.init_model(model) once before training from scratch for the per-kind init stds")
    notes.append("per-kind LR / WD / eps come from hf_train.py's optimizer hook (recipec.torch.optimizers); "
                 "the learning_rate / weight_decay / adam_epsilon arguments are the hidden class's, for logging")
    return Plan(output_dir=f"outputs/{slug(r.recipe_name)}-{r.size}", lr=hidden.lr, weight_decay=hidden.weight_decay,
                eps=hidden.eps, scheduler=scheduler, scheduler_kwargs=kwargs, grad_accum=r.batch.grad_accum,
                max_grad_norm=float(r.optimizer.grad_clip or 0.0), norm_eps=r.shape.norm_eps,
                rope_theta=r.shape.rope_theta, bf16=r.precision in ("bf16", "fp8"),
                fp16=r.precision == "fp16", notes=tuple(notes), model_class=model_class(r),
                muon=r.muon is not None, num_experts=sh.num_experts if moe else 0, top_k=sh.top_k if moe else 0,
                moe_intermediate_size=sh.expert_ffn_hidden if moe else 0,
                router_aux_loss_coef=float(r.moe.aux_loss_coeff) if moe else 0.0)


def render(ctx: RenderContext) -> TargetOutput:
    from recipec.render.env import render_template
    from recipec.render.neutral import FILE, render_text

    p = plan(ctx)
    args = render_template("hf_training_args.yaml.j2", header=ctx.header("#"), r=ctx.resolved, plan=p)
    hook = render_template("hf_train.py.j2", header=ctx.header("#"), r=ctx.resolved, plan=p)
    files = (RenderedFile(ARGS_FILE, args), RenderedFile(HOOK_FILE, hook, executable=True),
             RenderedFile(FILE, render_text(ctx)))
    command = LaunchCommand(target="hf", script=HOOK_FILE, args=(ARGS_FILE,))
    return TargetOutput(files=files, command=command, notes=p.notes)
