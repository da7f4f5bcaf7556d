"""Framework-neutral output: ``param_groups.json``, the per-class and per-kind optimizer settings (coupled WD).

``recipec.torch.param_groups(model, ...)`` / ``recipec.torch.optimizers(model, ...)`` read it (or a
``Resolved``) at run time, so any torch training loop can apply the recipe without recipec's compiler
installed. The format (``docs/render.md``, "param_groups.json"):

- ``optimizer``: the main optimizer (``name`` adamw | adam, ``betas``), which trains every kind Muon
  does not; ``weight_decay_convention`` is always ``coupled`` (w -= lr·wd·w) — for Muon too;
- ``muon``: ``null``, or Muon's settings that every Muon kind shares (``momentum``, ``nesterov``,
  ``ns_steps``, ``eps``, ``adjust_lr`` = torch.optim.Muon's ``adjust_lr_fn``, ``kinds``);
- ``classes``: the main optimizer's values per class (lr, coupled weight_decay, eps, init_std);
- ``kinds``: every kind the model has, with ``optimizer`` ("muon" or the main optimizer's name) and
  its own lr, coupled weight_decay, eps (Muon's eps for a Muon kind) and init_std.
"""

from __future__ import annotations

from dataclasses import dataclass

from recipec.render import RenderContext, RenderedFile, TargetOutput
from recipec.render.classes import ClassGroup, class_groups

FILE = "param_groups.json"

CLASS_DOC = {
    "hidden": "2-D weights of the blocks' linear layers (attention q/k/v/o, MLP): both dimensions grow with width",
    "embedding": "token (and position) embedding tables",
    "output": "the readout / lm_head weight (absent when tied to the embedding)",
    "vector": "norm gains and every bias",
}


@dataclass(frozen=True)
class Doc:
    cls: str
    text: str
    group: ClassGroup


@dataclass(frozen=True)
class KindDoc:
    kind: str
    cls: str
    text: str
    group: ClassGroup
    optimizer: str  # "muon" or the main optimizer's name


def kind_docs(resolved) -> tuple[KindDoc, ...]:
    """Every kind the model has, with its own numbers (its class's unless its fan ratios or rules differ)."""
    from recipec.frameworks.optimizers import kind_values
    from recipec.kinds import KIND_DOC

    out = []
    for kind, info in resolved.kinds.items():
        group = ClassGroup(name=kind, cls=info.cls, **kind_values(resolved, kind))
        optimizer = "muon" if info.optimizer == "muon" else resolved.optimizer.name
        out.append(KindDoc(kind, info.cls, KIND_DOC[kind], group, optimizer))
    return tuple(out)


def render_text(ctx: RenderContext) -> str:
    from recipec import __version__
    from recipec.render.env import render_template

    docs = tuple(Doc(g.cls, CLASS_DOC[g.cls], g) for g in class_groups(ctx.resolved))
    return render_template("param_groups.json.j2", r=ctx.resolved, docs=docs, kinds=kind_docs(ctx.resolved),
                           version=__version__, recipe_path=ctx.recipe_path, sha256=ctx.recipe_sha256)


def render(ctx: RenderContext) -> TargetOutput:
    return TargetOutput(files=(RenderedFile(FILE, render_text(ctx)),))
