"""What every stage of ``resolve`` reads (the recipe, its source map, its file) and how a stage reports a
located error."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from recipec.diagnostics import Diagnostic, RecipecError
from recipec.load.yaml_source import SourceMap, format_path
from recipec.recipe import Recipe
from recipec.resolved import Step

PROXY = "proxy"


@dataclass(frozen=True)
class Context:
    recipe: Recipe
    file: str
    sha256: str
    smap: SourceMap
    base_dir: Path | None


def fail(ctx: Context, path: tuple, message: str, hint: str = "") -> RecipecError:
    """A located error at ``path`` in the recipe (raise it)."""
    return RecipecError(Diagnostic(message, path=format_path(path), location=ctx.smap.locate(path), hint=hint))


def proxy_step(ctx: Context, value: float, note: str) -> Step:
    """The first link of every provenance chain: the proxy value and where the recipe sets it."""
    return Step(kind="proxy", file=ctx.file, value=value, note=note)
