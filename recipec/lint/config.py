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
    max-width-ratio = 64             # a check's options (see ``recipec checks CODE``)
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


MAX_CONFIG_BYTES = 1 << 20  # a pyproject.toml is a few kilobytes


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml with a [tool.recipec] table, from ``start`` upwards."""
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            from recipec.load.yaml_source import read_bounded

            try:
                text = read_bounded(candidate, str(candidate), MAX_CONFIG_BYTES).decode("utf-8", errors="replace")
            except RecipecError:
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
    from recipec.load.yaml_source import read_bounded

    if path is None:
        return LintConfig()
    raw = read_bounded(path, str(path), MAX_CONFIG_BYTES)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        before = raw[: e.start]
        line, col = before.count(b"\n") + 1, e.start - (before.rfind(b"\n") + 1) + 1
        raise RecipecError(Diagnostic(f"not valid UTF-8 (byte 0x{raw[e.start]:02x}); TOML files are UTF-8",
                                      location=Location(str(path), line, col))) from None
    try:
        data = _toml_loads(text)
    except ValueError as e:  # tomllib.TOMLDecodeError is a ValueError: "… (at line 3, column 7)"
        import re

        m = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
        where = Location(str(path), int(m.group(1)), int(m.group(2))) if m else Location(str(path), 1, 1)
        raise RecipecError(Diagnostic(f"invalid TOML: {re.sub(r' [(]at line.*', '', str(e))}", location=where)) \
            from None
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise RecipecError(Diagnostic("must be a table", path="tool", location=_locate(text, str(path), ("tool",))))
    table = tool.get("recipec")
    if table is None:
        if required:
            raise RecipecError(Diagnostic("no [tool.recipec] table", location=Location(str(path), 1, 1)))
        return LintConfig(root=path.parent, source=str(path))
    if not isinstance(table, dict):
        raise RecipecError(Diagnostic("must be a table", path="tool.recipec",
                                      location=_locate(text, str(path), ("tool", "recipec"))))
    return config_from_table(table, known_codes, root=path.parent, source=str(path), text=text)


def _locate(text: str, source: str, path: tuple) -> Location:
    """Best-effort line:col of a key in TOML text (tomllib keeps no positions): the deepest table header or
    key assignment on the way to ``path``; the file's first line when nothing matches."""
    import re

    lines = text.splitlines()
    best = Location(source, 1, 1)
    header_line = 0
    for depth in range(len(path), 0, -1):  # the longest [a.b.c] header that is a prefix of the path
        dotted = r"\s*\.\s*".join(re.escape(str(p)).join(("[\"']?", "[\"']?")) for p in path[:depth])
        pattern = re.compile(r"^\s*\[\[?\s*" + dotted + r"\s*\]")
        for i, line in enumerate(lines):
            if pattern.match(line):
                header_line, best = i + 1, Location(source, i + 1, line.index("[") + 1)
                rest = path[depth:]
                break
        if header_line:
            break
    else:
        rest = path
    if rest:  # the key inside the table (or a dotted key at the top): search from the header on
        key = re.compile(r"^\s*[\"']?" + re.escape(str(rest[0])) + r"[\"']?\s*[.=]")
        for i in range(header_line, len(lines)):
            if i > header_line and lines[i].lstrip().startswith("[") and header_line:
                break
            if key.match(lines[i]):
                return Location(source, i + 1, len(lines[i]) - len(lines[i].lstrip()) + 1)
    return best


def _check_option(code: str, key: str, value: Any, default: Any) -> str | None:
    """Why ``value`` is not a valid setting of an option whose default is ``default`` (None when it is)."""
    import math

    if isinstance(default, bool):
        return None if isinstance(value, bool) else f"must be true or false (got {value!r})"
    if isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"must be a number (got {value!r})"
        if not math.isfinite(value) or not 0 < value <= 1e30:
            return f"must be a finite number > 0 (got {value!r})"
        return None
    if isinstance(default, str) and not isinstance(value, str):
        return f"must be a string (got {value!r})"
    return None


def _table_model():
    """The shape of [tool.recipec] (types only; codes and options are checked against the registry)."""
    from typing import Literal, Union

    from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

    Codes = Union[StrictStr, list[StrictStr]]

    class Table(BaseModel):
        model_config = ConfigDict(extra="forbid", populate_by_name=True)

        select: Codes = []
        ignore: Codes = []
        severity: dict[str, Literal["error", "warning", "info"]] = {}
        per_file_ignores: dict[str, Codes] = Field(default_factory=dict, alias="per-file-ignores")
        options: dict[str, dict[str, Union[StrictBool, StrictInt, StrictFloat, StrictStr, list, dict]]] = {}
        target: Literal["neutral", "torchtitan", "megatron", "hf"] = "neutral"
        fail_on: Literal["error", "warning", "info"] = Field("warning", alias="fail-on")

    return Table


def config_from_table(table: dict, known_codes: dict[str, Any], root: Path | None = None,
                      source: str = "<config>", text: str = "") -> LintConfig:
    from pydantic import ValidationError

    names = {chk.name: code for code, chk in known_codes.items()}

    def fail(key: str, message: str) -> RecipecError:
        parts = tuple(key.split(".")) if key else ()
        where = _locate(text, source, ("tool", "recipec") + parts) if text else Location(source)
        return RecipecError(Diagnostic(message, path=f"tool.recipec.{key}" if key else "tool.recipec",
                                       location=where))

    known_keys = {"select", "ignore", "severity", "per-file-ignores", "options", "target", "fail-on"}
    for key in table:
        if key not in known_keys:
            raise fail(str(key), f"unknown key (known: {', '.join(sorted(known_keys))})")
    try:
        _table_model().model_validate(table)
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        loc = [str(p) for p in err["loc"] if not (isinstance(p, str) and (p in ("str", "list[str]") or "[" in p
                                                                           or p.startswith(("function-", "literal"))))]
        aliases = {"per_file_ignores": "per-file-ignores", "fail_on": "fail-on"}
        loc = [aliases.get(p, p) for p in loc]
        kind = err["type"]
        if kind == "literal_error":
            choices = TARGETS if loc == ["target"] else SEVERITIES
            message = f"must be one of {', '.join(choices)} (got {err['input']!r})"
        elif kind in ("dict_type", "model_type"):
            message = f"must be a table (got {err['input']!r})"
        elif kind in ("list_type", "string_type"):
            message = f"must be a list of rule codes (got {err['input']!r})"
        else:
            message = err["msg"][0].lower() + err["msg"][1:] + f" (got {err['input']!r})"
        raise fail(".".join(loc), message) from None

    def codes(key: str, value: Any, *, prefixes: bool) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        out = []
        for v in value:
            v = names.get(v, v)
            ok = any(c.startswith(v) for c in known_codes) if prefixes else v in known_codes
            if not ok or not v.startswith("RC"):
                raise fail(key, f"unknown rule code {v!r}")
            out.append(v)
        return tuple(out)

    cfg = LintConfig(root=root, source=source)
    cfg.select = codes("select", table.get("select", []), prefixes=True)
    cfg.ignore = codes("ignore", table.get("ignore", []), prefixes=True)
    for code, level in dict(table.get("severity", {})).items():
        code = names.get(code, code)
        codes(f"severity.{code}", [code], prefixes=False)
        cfg.severity[code] = Severity(level)
    for pattern, value in dict(table.get("per-file-ignores", {})).items():
        cfg.per_file_ignores[pattern] = codes(f"per-file-ignores.{pattern}", value, prefixes=True)
    for code, opts in dict(table.get("options", {})).items():
        key_code = code
        code = names.get(code, code)
        codes(f"options.{key_code}", [code], prefixes=False)
        allowed = known_codes[code].options
        for key, value in opts.items():
            if key not in allowed:
                known = ", ".join(sorted(allowed)) or "none"
                raise fail(f"options.{key_code}.{key}", f"unknown option (known: {known})")
            problem = _check_option(code, key, value, allowed[key])
            if problem:
                raise fail(f"options.{key_code}.{key}", problem)
        cfg.options[code] = dict(opts)
    cfg.target = table.get("target", "neutral")
    cfg.fail_on = Severity(table.get("fail-on", "warning"))
    return cfg
