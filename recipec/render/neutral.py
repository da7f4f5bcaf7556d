"""Framework-neutral output: ``param_groups.json``, the per-class AdamW settings (coupled WD).

``recipec.torch.param_groups(model, ...)`` reads it (or a ``Resolved``) at run time, so any torch
training loop can apply the recipe without recipec's compiler installed.
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


def kind_docs(resolved) -> tuple[KindDoc, ...]:
    """Every kind the model has, with its own numbers (its class's unless its fan ratios or rules differ)."""
    from recipec.kinds import KIND_DOC

    out = []
    for kind, info in resolved.kinds.items():
        c = resolved.kind_coupled(kind)
        out.append(KindDoc(kind, info.cls, KIND_DOC[kind], ClassGroup(name=kind, cls=info.cls, **c._asdict())))
    return tuple(out)


def render_text(ctx: RenderContext) -> str:
    from recipec import __version__
    from recipec.render.env import render_template

    docs = tuple(Doc(g.cls, CLASS_DOC[g.cls], g) for g in class_groups(ctx.resolved))
    return render_template("param_groups.json.j2", r=ctx.resolved, docs=docs, kinds=kind_docs(ctx.resolved),
                           version=__version__, recipe_path=ctx.recipe_path, sha256=ctx.recipe_sha256)


def render(ctx: RenderContext) -> TargetOutput:
    return TargetOutput(files=(RenderedFile(FILE, render_text(ctx)),))
