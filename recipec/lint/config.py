"""Lint configuration: ``[tool.recipec]`` in ``pyproject.toml``, overridden by command-line options.

    [tool.recipec]
    target = "torchtitan"            # neutral | torchtitan | megatron | hf
    fail-on = "warning"              # error | warning | info
    select = ["RC1", "RC302"]        # code prefixes to run (default: all)
    ignore = ["RC405"]               # code prefixes to skip
    [tool.recipec.severity]
    RC405 = "warning"                # change a check's severity
    [tool.recipec.per-file-ignores]
    "experiments/*.yaml" = ["RC302"] # glob (relative to the pyproject's folder) -> codes
    [tool.recipec.options.RC302]
    max-width-ratio = 64             # a check's options (see ``recipec rule CODE``)
"""

from __future__ import annotations

import fnmatch
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from recipec.diagnostics import Diagnostic, Location, RecipecError, Severity

TARGETS: tuple[str, ...] = ("neutral", "torchtitan", "megatron", "hf")
SEVERITIES: tuple[str, ...] = ("error", "warning", "info")


@dataclass
class LintConfig:
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    severity: dict[str, Severity] = field(default_factory=dict)
    per_file_ignores: dict[str, tuple[str, ...]] = field(default_factory=dict)
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    target: str = "neutral"
    fail_on: Severity = Severity.WARNING
    root: Path | None = None  # folder of the pyproject.toml the config came from
    source: str = ""  # the file it came from, for messages

    def enabled(self, code: str, file: str | None = None) -> bool:
        if self.select and not any(code.startswith(p) for p in self.select):
            return False
        if any(code.startswith(p) for p in self.ignore):
            return False
        if file is not None and self.per_file_ignores:
            rel = self._relative(file)
            for pattern, codes in self.per_file_ignores.items():
                if fnmatch.fnmatch(rel, pattern) and any(code.startswith(p) for p in codes):
                    return False
        return True

    def _relative(self, file: str) -> str:
        p = Path(file)
        if self.root is not None:
            try:
                return p.resolve().relative_to(self.root.resolve()).as_posix()
            except ValueError:
                pass
        return PurePath(file).as_posix()

    def options_for(self, code: str, defaults: dict[str, Any]) -> dict[str, Any]:
        return {**defaults, **self.options.get(code, {})}


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml with a [tool.recipec] table, from ``start`` upwards."""
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            try:
                text = candidate.read_text(encoding="utf-8")
            except OSError:
                continue
            if "[tool.recipec" in text:
                return candidate
    return None


def _toml_loads(text: str) -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    return tomllib.loads(text)


def load_config(path: Path | None, known_codes: dict[str, Any], *, required: bool = False) -> LintConfig:
    """Read [tool.recipec] from ``path`` (a pyproject.toml); ``None`` gives the defaults."""
    if path is None:
        return LintConfig()
    where = Location(str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise RecipecError(Diagnostic(f"cannot read the config file: {e.strerror}", location=where)) from None
    try:
        data = _toml_loads(text)
    except ValueError as e:  # tomllib.TOMLDecodeError is a ValueError
        raise RecipecError(Diagnostic(f"invalid TOML: {e}", location=where)) from None
    table = data.get("tool", {}).get("recipec")
    if table is None:
        if required:
            raise RecipecError(Diagnostic("no [tool.recipec] table", location=where))
        return LintConfig(root=path.parent, source=str(path))
    return config_from_table(table, known_codes, root=path.parent, source=str(path))


def config_from_table(table: dict, known_codes: dict[str, Any], root: Path | None = None,
                      source: str = "<config>") -> LintConfig:
    where = Location(source)
    names = {chk.name: code for code, chk in known_codes.items()}

    def fail(key: str, message: str) -> RecipecError:
        return RecipecError(Diagnostic(message, path=f"tool.recipec.{key}", location=where))

    def codes(key: str, value: Any, *, prefixes: bool) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail(key, "must be a list of rule codes")
        out = []
        for v in value:
            v = names.get(v, v)
            ok = any(c.startswith(v) for c in known_codes) if prefixes else v in known_codes
            if not ok or not v.startswith("RC"):
                raise fail(key, f"unknown rule code {v!r}")
            out.append(v)
        return tuple(out)

    known_keys = {"select", "ignore", "severity", "per-file-ignores", "options", "target", "fail-on"}
    for key in table:
        if key not in known_keys:
            raise fail(key, f"unknown key (known: {', '.join(sorted(known_keys))})")
    cfg = LintConfig(root=root, source=source)
    cfg.select = codes("select", table.get("select", []), prefixes=True)
    cfg.ignore = codes("ignore", table.get("ignore", []), prefixes=True)
    for code, level in dict(table.get("severity", {})).items():
        code = names.get(code, code)
        codes("severity", [code], prefixes=False)
        if level not in SEVERITIES:
            raise fail(f"severity.{code}", f"must be one of {', '.join(SEVERITIES)} (got {level!r})")
        cfg.severity[code] = Severity(level)
    for pattern, value in dict(table.get("per-file-ignores", {})).items():
        cfg.per_file_ignores[pattern] = codes(f"per-file-ignores.{pattern}", value, prefixes=True)
    for code, opts in dict(table.get("options", {})).items():
        code = names.get(code, code)
        codes("options", [code], prefixes=False)
        if not isinstance(opts, dict):
            raise fail(f"options.{code}", "must be a table of option = value")
        allowed = known_codes[code].options
        for key, value in opts.items():
            if key not in allowed:
                known = ", ".join(sorted(allowed)) or "none"
                raise fail(f"options.{code}.{key}", f"unknown option (known: {known})")
            if isinstance(allowed[key], (int, float)) and not isinstance(value, (int, float)):
                raise fail(f"options.{code}.{key}", f"must be a number (got {value!r})")
        cfg.options[code] = dict(opts)
    target = table.get("target", "neutral")
    if target not in TARGETS:
        raise fail("target", f"must be one of {', '.join(TARGETS)} (got {target!r})")
    cfg.target = target
    fail_on = table.get("fail-on", "warning")
    if fail_on not in SEVERITIES:
        raise fail("fail-on", f"must be one of {', '.join(SEVERITIES)} (got {fail_on!r})")
    cfg.fail_on = Severity(fail_on)
    return cfg
