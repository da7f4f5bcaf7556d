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
from functools import lru_cache
from pathlib import Path, PurePath
from typing import Any

from recipec.diagnostics import Diagnostic, Location, RecipecError, Severity
from recipec.frameworks import TARGETS

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


# --------------------------------------------------------------------------- the [tool.recipec] model
# The model parses the table: it resolves check names to codes, checks every code against the registry
# and types each check's options by their defaults. ``config_from_table`` only turns its first error into
# a located message and the result into a ``LintConfig``.


def _number_option(value: Any) -> float | int:
    import math

    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a number (got {value!r})")
    if not math.isfinite(value) or not 0 < value <= 1e30:
        raise ValueError(f"must be a finite number > 0 (got {value!r})")
    return value


def _option_type(default: Any) -> Any:
    """The type of an option whose default is ``default``."""
    from typing import Annotated

    from pydantic import PlainValidator, StrictBool, StrictStr

    if isinstance(default, bool):
        return StrictBool
    if isinstance(default, (int, float)):
        return Annotated[Any, PlainValidator(_number_option)]
    if isinstance(default, str):
        return StrictStr
    return Any


def _resolver(checks: tuple[tuple[str, str], ...], *, prefixes: bool):
    """A validator: a check code (or, with ``prefixes``, a code prefix) or a check's name -> the code."""
    codes = [code for code, _ in checks]
    names = {name: code for code, name in checks}

    def resolve(value: str) -> str:
        v = names.get(value, value)
        known = any(c.startswith(v) for c in codes) if prefixes else v in codes
        if not known or not v.startswith("RC"):
            raise ValueError(f"unknown rule code {value!r}")
        return v

    return resolve


@lru_cache(maxsize=8)
def _table_model(checks: tuple[tuple[str, str, tuple[tuple[str, Any], ...]], ...]):
    """The model of [tool.recipec] for a registry given as (code, name, options) triples."""
    from typing import Annotated, Literal

    from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field, StrictStr, create_model

    pairs = tuple((code, name) for code, name, _ in checks)
    prefix, exact = _resolver(pairs, prefixes=True), _resolver(pairs, prefixes=False)
    Prefixes = Annotated[StrictStr | list[StrictStr],
                         AfterValidator(lambda v: tuple(prefix(c) for c in ([v] if isinstance(v, str) else v)))]
    Code = Annotated[StrictStr, AfterValidator(exact)]
    Level = Literal["error", "warning", "info"]
    forbid = ConfigDict(extra="forbid")
    per_check = {
        code: (create_model(f"Options{code}", __config__=forbid,
                            **{key: (_option_type(default), Field(None, alias=key)) for key, default in options})
               | None, Field(None, validation_alias=AliasChoices(code, name)))
        for code, name, options in checks
    }
    Options = create_model("Options", __config__=forbid, **per_check)

    class Table(BaseModel):
        model_config = ConfigDict(extra="forbid", populate_by_name=True)

        select: Prefixes = ()
        ignore: Prefixes = ()
        severity: dict[Code, Level] = {}
        per_file_ignores: dict[str, Prefixes] = Field(default_factory=dict, alias="per-file-ignores")
        options: Options = Field(default_factory=Options)
        target: Literal[TARGETS] = "neutral"
        fail_on: Level = Field("warning", alias="fail-on")

    return Table


_FIELD_KEYS = {"per_file_ignores": "per-file-ignores", "fail_on": "fail-on"}


def _error_key(err: dict) -> tuple[str, ...]:
    """The TOML key path of a pydantic error (union branches, key markers and field names cleaned up)."""
    out = []
    for part in err["loc"]:
        part = str(part)
        if part in ("str", "list[str]", "[key]") or part.startswith(("function-", "literal[")):
            continue
        out.append(_FIELD_KEYS.get(part, part) if not out else part)
    return tuple(out)


def _error_message(err: dict, key: tuple[str, ...], known_codes: dict[str, Any]) -> str:
    kind, got = err["type"], err.get("input")
    if kind == "value_error":
        return str(err["ctx"]["error"])
    if kind == "extra_forbidden":
        if len(key) == 1:
            return f"unknown key (known: {', '.join(sorted(_TOP_KEYS))})"
        if len(key) == 2:  # [tool.recipec.options.X] for a check that does not exist
            return f"unknown rule code {key[1]!r}"
        names = {chk.name: code for code, chk in known_codes.items()}
        chk = known_codes.get(names.get(key[1], key[1]))
        return f"unknown option (known: {', '.join(sorted(chk.options if chk else ())) or 'none'})"
    if kind == "literal_error":
        return f"must be one of {', '.join(TARGETS if key == ('target',) else SEVERITIES)} (got {got!r})"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be a table (got {got!r})"
    if kind in ("list_type", "string_type") and key[0] in ("select", "ignore", "per-file-ignores"):
        return f"must be a list of rule codes (got {got!r})"
    if kind == "bool_type":
        return f"must be true or false (got {got!r})"
    if kind == "string_type":
        return f"must be a string (got {got!r})"
    return err["msg"][0].lower() + err["msg"][1:] + f" (got {got!r})"


_TOP_KEYS = ("select", "ignore", "severity", "per-file-ignores", "options", "target", "fail-on")


def config_from_table(table: dict, known_codes: dict[str, Any], root: Path | None = None,
                      source: str = "<config>", text: str = "") -> LintConfig:
    """A ``LintConfig`` from a parsed [tool.recipec] table; the first problem is a located ``RecipecError``."""
    from pydantic import ValidationError

    checks = tuple((code, chk.name, tuple(chk.options.items())) for code, chk in known_codes.items())
    try:
        parsed = _table_model(checks).model_validate(table)
    except ValidationError as e:
        errors = e.errors(include_url=False)
        # an unknown top-level key first (a misspelt section explains the rest), then in the table's order
        err = min(errors, key=lambda x: (not (x["type"] == "extra_forbidden" and len(x["loc"]) == 1),))
        key = _error_key(err)
        where = _locate(text, source, ("tool", "recipec") + key) if text else Location(source)
        raise RecipecError(Diagnostic(_error_message(err, key, known_codes),
                                      path=".".join(("tool", "recipec") + key), location=where)) from None
    options = {code: opts.model_dump(by_alias=True, exclude_none=True)
               for code, opts in parsed.options if opts is not None}
    return LintConfig(select=parsed.select, ignore=parsed.ignore,
                      severity={code: Severity(level) for code, level in parsed.severity.items()},
                      per_file_ignores=dict(parsed.per_file_ignores), options=options, target=parsed.target,
                      fail_on=Severity(parsed.fail_on), root=root, source=source)
