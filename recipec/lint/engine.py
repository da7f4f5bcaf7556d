"""The lint engine: load → resolve every size → run the checks → locate, suppress, filter.

The engine knows checks only through the ``Check`` records it is handed (the registry wires them), and
it knows nothing about output formats or the command line.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from recipec.diagnostics import Diagnostic, Location, RecipecError, Severity
from recipec.lint.base import LintContext
from recipec.lint.check import Check
from recipec.lint.config import LintConfig
from recipec.lint.suppress import parse_suppressions

RECIPE_ERROR = "RC001"
UNUSED_SUPPRESSION = "RC002"
_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".ci-venv", "build", "dist"}


def _stamp(check: Check, d: Diagnostic, cfg: LintConfig, fatal: bool = False) -> Diagnostic:
    extra = {"name": check.name, **({"fatal": True} if fatal else {})}
    return Diagnostic(d.message, path=d.path, location=d.location,
                      severity=cfg.severity.get(check.code, check.severity),
                      code=check.code, hint=d.hint, extra=extra)


def is_fatal(d: Diagnostic) -> bool:
    """The recipe could not be loaded (or resolved at its proxy): nothing else about it was checked."""
    return bool(d.extra.get("fatal"))


def _error_diagnostics(e: RecipecError, check: Check, cfg: LintConfig, display: str, context: str = "",
                       fatal: bool = True) -> list[Diagnostic]:
    out = []
    for d in e.diagnostics:
        loc = d.location if d.location is not None and d.location.file == display else Location(display, 1, 1)
        msg = f"{context}{d.message}"
        if d.location is not None and d.location.file != display:
            msg += f" (in {d.location})"
        out.append(_stamp(check, Diagnostic(msg, path=d.path, location=loc, hint=d.hint), cfg, fatal=fatal))
    return out


def lint_text(text: str, display: str, checks: dict[str, Check], cfg: LintConfig,
              base_dir: Path | None = None) -> list[Diagnostic]:
    """Lint one recipe given as text; ``display`` is the file name used in locations."""
    from recipec.load import load_recipe_text
    from recipec.load.yaml_source import format_path
    from recipec.transfer import load_rulesets, resolve

    enabled = {code: chk for code, chk in checks.items() if cfg.enabled(code, display)}
    diags: list[Diagnostic] = []
    error_check = checks[RECIPE_ERROR]
    ctx = None
    try:
        loaded = load_recipe_text(text, display)
        sets = load_rulesets(loaded.recipe, base_dir, loaded.source_map, display)
        common = dict(file=display, sha256=loaded.sha256, source_map=loaded.source_map, base_dir=base_dir,
                      rulesets=sets)
        proxy = resolve(loaded.recipe, None, **common)
        ctx = LintContext(loaded=loaded, rulesets=sets, proxy=proxy, target=cfg.target)
    except RecipecError as e:
        diags += _error_diagnostics(e, error_check, cfg, display)
    if ctx is not None:
        for name in loaded.recipe.sizes:
            try:
                ctx.sizes[name] = resolve(loaded.recipe, name, **common)
            except RecipecError as e:
                diags += _error_diagnostics(e, error_check, cfg, display, context=f"size {name!r}: ", fatal=False)
        for code, chk in enabled.items():
            if chk.run is None:
                continue
            options = cfg.options_for(code, chk.options)
            for f in chk.run(ctx, options):
                loc = loaded.locate(f.path, prefer_key=f.prefer_key)
                text_path = format_path(f.path) if isinstance(f.path, tuple) else f.path
                diags.append(_stamp(chk, Diagnostic(f.message, path=text_path, location=loc, hint=f.hint), cfg))
    diags = [d for d in dict.fromkeys(diags) if d.code in enabled]
    return _apply_suppressions(text, display, diags, checks, cfg)


def _apply_suppressions(text: str, display: str, diags: list[Diagnostic], checks: dict[str, Check],
                        cfg: LintConfig) -> list[Diagnostic]:
    sups = parse_suppressions(text)
    if sups:
        names = {chk.name: code for code, chk in checks.items()}
        for s in sups:
            s.codes = tuple(names.get(c, c) for c in s.codes)
        kept = []
        for d in diags:
            line = d.location.line if d.location else 0
            hit = [s for s in sups if s.covers(d.code, line)]
            for s in hit:
                s.used.add(d.code)
            if not hit:
                kept.append(d)
        diags = kept
        unused_check = checks[UNUSED_SUPPRESSION]
        if cfg.enabled(UNUSED_SUPPRESSION, display):
            for s in sups:
                for code in s.codes:
                    if code in s.used:
                        continue
                    if code not in checks:
                        msg = f"suppression names an unknown rule code {code!r}"
                    elif not cfg.enabled(code, display):
                        continue  # the check is switched off by configuration: nothing to report
                    else:
                        where = "in this file" if s.scope == "file" else f"on line {s.applies_to}"
                        msg = f"unused suppression: {code} ({checks[code].name}) reports nothing {where}"
                    diags.append(_stamp(unused_check,
                                        Diagnostic(msg, path="", location=Location(display, s.line, s.column),
                                                   hint="remove it"), cfg))
    diags.sort(key=lambda d: (d.location.line if d.location else 0, d.location.column if d.location else 0, d.code))
    return diags


def lint_file(path: Path, checks: dict[str, Check], cfg: LintConfig, display: str | None = None) -> list[Diagnostic]:
    from recipec.load.yaml_source import read_text

    display = display or str(path)
    try:
        text = read_text(path, display)
    except RecipecError as e:
        return _error_diagnostics(e, checks[RECIPE_ERROR], cfg, display)
    return lint_text(text, display, checks, cfg, base_dir=path.parent)


def _looks_like_recipe(path: Path) -> bool:
    """Directory walks lint YAML files with top-level 'model:' and 'optimizer:' keys (rule sets have neither)."""
    from recipec.load.yaml_source import MAX_FILE_BYTES, read_bounded

    try:  # a regular file of at most the recipe size limit: a FIFO or a device named *.yaml is not read
        head = read_bounded(path, str(path), MAX_FILE_BYTES).decode("utf-8", errors="replace")
    except RecipecError:
        return False
    return "\nmodel:" in "\n" + head and "\noptimizer:" in "\n" + head


def collect_files(paths: Iterable[str], only_recipes: bool = False) -> list[Path]:
    """Expand files and directories; a named file is linted (with ``only_recipes``: if it looks like a recipe),
    a file found in a directory only if it looks like a recipe."""
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
                for f in sorted(files):
                    fp = Path(root) / f
                    if f.endswith((".yaml", ".yml")) and _looks_like_recipe(fp):
                        out.append(fp)
        elif path.exists():
            if not only_recipes or _looks_like_recipe(path):
                out.append(path)
        else:
            raise RecipecError(Diagnostic("no such file or directory", location=Location(p)))
    return list(dict.fromkeys(out))


def fails(diags: Iterable[Diagnostic], threshold: Severity) -> bool:
    return any(d.severity.rank >= threshold.rank for d in diags)
