"""recipec lint: find recipe settings that will not transfer from the proxy to the target sizes.

    from recipec.lint import lint_paths
    diagnostics = lint_paths(["examples/"])

Layout: ``base`` (what checks see and yield), ``check`` (metadata), ``checks/`` (one module per code),
``registry`` (the explicit list), ``engine`` (load, resolve, run, locate, suppress), ``config``
([tool.recipec]), ``formats`` (text, json, sarif, github), ``docs`` (docs/checks.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from recipec.diagnostics import Diagnostic


def lint_paths(paths: Iterable[str], cfg=None) -> list[Diagnostic]:
    """Lint files and directories with ``cfg`` (a ``LintConfig``; default: defaults)."""
    from recipec.lint.config import LintConfig
    from recipec.lint.engine import collect_files, lint_file
    from recipec.lint.registry import CHECKS

    cfg = cfg or LintConfig()
    out: list[Diagnostic] = []
    for f in collect_files(paths):
        out += lint_file(Path(f), CHECKS, cfg)
    return out


def lint_text(text: str, display: str = "<recipe>", cfg=None, base_dir: Path | None = None) -> list[Diagnostic]:
    """Lint one recipe given as text."""
    from recipec.lint import engine
    from recipec.lint.config import LintConfig
    from recipec.lint.registry import CHECKS

    return engine.lint_text(text, display, CHECKS, cfg or LintConfig(), base_dir=base_dir)


__all__ = ["lint_paths", "lint_text"]
