"""Render a resolved recipe into framework configs and launch scripts.

The data path: ``Resolved`` (frozen) → one renderer per target (``TARGETS``) and one per launcher
(``LAUNCHERS``) → a set of ``RenderedFile`` in memory → ``write_outputs`` (atomic) or
``check_outputs`` (``compile --check``). Renderers are modules named in the registries and imported
only when selected, so importing this package costs nothing beyond the standard library.

A renderer module exposes ``render(ctx: RenderContext) -> TargetOutput``. Everything a renderer
cannot express in its framework is reported in ``TargetOutput.notes`` (printed by the CLI and
written into the generated files), never dropped silently.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from recipec.frameworks import FRAMEWORKS
from recipec.render.writer import check_outputs, has_recipec_header, write_outputs

__all__ = [
    "TARGETS", "LAUNCHERS", "RenderContext", "RenderedFile", "LaunchCommand", "TargetOutput", "Rendered",
    "render", "write_outputs", "check_outputs", "has_recipec_header",
]

# name -> module; explicit, no directory scanning
TARGETS: dict[str, str] = {
    "torchtitan": "recipec.render.torchtitan",
    "megatron": "recipec.render.megatron",
    "hf": "recipec.render.hf",
    "neutral": "recipec.render.neutral",
}
# the targets that have a launch command (neutral is data only)
RUNNABLE = FRAMEWORKS
LAUNCHERS: dict[str, str] = {
    "torchrun": "recipec.render.launchers",
    "slurm": "recipec.render.launchers",
    "k8s": "recipec.render.launchers",
}


@dataclass(frozen=True)
class RenderedFile:
    path: str  # relative, '/'-separated
    text: str
    executable: bool = False


@dataclass(frozen=True)
class LaunchCommand:
    """What a launcher runs on every rank: ``python -m module args…`` or ``python script args…``."""

    target: str
    module: str | None = None  # run with ``torchrun -m module``
    script: str | None = None  # a file in the output directory
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    pythonpath_out: bool = False  # put the output directory on PYTHONPATH


@dataclass(frozen=True)
class TargetOutput:
    files: tuple[RenderedFile, ...]
    command: LaunchCommand | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class RenderContext:
    resolved: object  # recipec.resolved.Resolved (frozen): everything a renderer reads of the recipe
    recipe_path: str
    recipe_sha256: str
    launcher: str | None = None
    launch: object = None  # recipec.render.launchers.LaunchOptions (compile's launch options), or None

    def header(self, marker: str) -> str:
        """The generated-file header as comment lines starting with ``marker``."""
        from recipec.render.env import header_lines

        return "".join(f"{marker} {line}\n" for line in header_lines(self.resolved, self.recipe_path,
                                                                       self.recipe_sha256))


@dataclass(frozen=True)
class Rendered:
    files: tuple[RenderedFile, ...]
    notes: tuple[tuple[str, str], ...] = field(default=())  # (target, note)


def _module(name: str):
    return importlib.import_module(name)


def render(loaded, resolved, targets: list[str] | tuple[str, ...], launcher: str | None = None,
           extra: tuple[RenderedFile, ...] = (), launch=None) -> Rendered:
    """Render every selected target (and, for each, the launcher) in memory.

    ``launch`` (``recipec.render.launchers.LaunchOptions``) adds arguments, environment, image and
    volumes to every launch file. A launcher with no target that runs is refused: it would write nothing.
    """
    from recipec.diagnostics import Diagnostic, RecipecError

    ctx = RenderContext(resolved=resolved, recipe_path=loaded.path, recipe_sha256=loaded.sha256, launcher=launcher,
                        launch=launch)
    files: dict[str, RenderedFile] = {f.path: f for f in extra}
    notes: list[tuple[str, str]] = []

    def add(f: RenderedFile) -> None:
        if not f.text.endswith("\n"):
            f = RenderedFile(f.path, f.text + "\n", f.executable)
        prev = files.get(f.path)
        if prev is not None and prev != f:
            raise RecipecError(Diagnostic(f"two renderers produce different {f.path}"))
        files[f.path] = f

    if launcher is not None and launcher not in LAUNCHERS:
        raise RecipecError(Diagnostic(f"unknown launcher {launcher!r}; known: {', '.join(LAUNCHERS)}"))
    if launcher is not None and not any(t in RUNNABLE for t in targets):
        raise RecipecError(Diagnostic(f"--launcher {launcher} writes nothing without a --target that runs "
                                      f"({', '.join(RUNNABLE)}); neutral has no launch command", path="--launcher"))
    for target in dict.fromkeys(targets):  # keep order, drop repeats
        if target not in TARGETS:
            raise RecipecError(Diagnostic(f"unknown target {target!r}; known: {', '.join(TARGETS)}"))
        try:
            out = _module(TARGETS[target]).render(ctx)
            for f in out.files:
                add(f)
            notes.extend((target, n) for n in out.notes)
            if launcher is not None and out.command is not None:
                for f in _module(LAUNCHERS[launcher]).render(ctx, launcher, out.command, tuple(n for n in out.notes)):
                    add(f)
        except RecipecError as e:
            raise RecipecError([_located(loaded, d) for d in e.diagnostics]) from None
    return Rendered(files=tuple(files[p] for p in sorted(files)), notes=tuple(notes))


def _located(loaded, d):
    """A renderer's diagnostic names a config path; give it the recipe's file:line:col like every other error."""
    from dataclasses import replace

    if d.location is not None:
        return d
    return replace(d, location=loaded.locate(d.path) if d.path else loaded.locate(()))
