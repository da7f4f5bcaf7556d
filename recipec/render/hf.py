"""Hugging Face Trainer: TrainingArguments as YAML, and an optimizer hook with the per-class groups.

The Trainer's own optimizer has one LR and a decay / no-decay split, so ``hf_train.py`` overrides
``create_optimizer`` with ``recipec.torch.param_groups`` (reading ``param_groups.json``); the
Trainer's scheduler then scales each group's own LR. HF Llama has no logit or residual multiplier,
so the hook lowers them into the weights (``lower_multipliers=True``).
"""

from __future__ import annotations

from dataclasses import dataclass

from recipec.frameworks import is_one
from recipec.frameworks.gaps import gaps
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
    notes += [g.note for g in gaps("hf", r)]
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
    notes.append("per-kind LR / WD / eps come from hf_train.py's optimizer hook (recipec.torch.param_groups); "
                 "the learning_rate / weight_decay / adam_epsilon arguments are the hidden class's, for logging")
    return Plan(output_dir=f"outputs/{slug(r.recipe_name)}-{r.size}", lr=hidden.lr, weight_decay=hidden.weight_decay,
                eps=hidden.eps, scheduler=scheduler, scheduler_kwargs=kwargs, grad_accum=r.batch.grad_accum,
                max_grad_norm=float(r.optimizer.grad_clip or 0.0), norm_eps=r.shape.norm_eps,
                rope_theta=r.shape.rope_theta, bf16=r.precision in ("bf16", "fp8"),
                fp16=r.precision == "fp16", notes=tuple(notes))


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
