"""Output formats, each a function of diagnostics (no format knows about checks' internals).

``text``: ``recipe.yaml:14:9: RC102 warning: optimizer.weight_decay: … (hint: …)``
``json``: a list of objects (file, line, column, code, name, severity, path, message, hint)
``sarif``: SARIF 2.1.0, one run, the tool's rules with their help, one result per diagnostic
``github``: workflow commands (``::warning file=…,line=…,col=…,title=…::message``)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import PurePath
from urllib.parse import quote

from recipec.diagnostics import Diagnostic, Severity, one_line

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
_GITHUB_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


# --------------------------------------------------------------------------- one diagnostic


def text_line(d: Diagnostic) -> str:
    return d.format()


def json_object(d: Diagnostic) -> dict:
    loc = d.location
    return {
        "file": loc.file if loc else None,
        "line": loc.line if loc else None,
        "column": loc.column if loc else None,
        "code": d.code,
        "name": d.extra.get("name", ""),
        "severity": d.severity.value,
        "path": d.path,
        "message": d.message,
        "hint": d.hint,
    }


def _gh_data(text: str) -> str:
    # %-encode what the runner decodes; escape every other line break (U+2028, U+0085…) and control
    # character, so one annotation stays one line for whatever reads the log
    return one_line(text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def _gh_property(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def github_line(d: Diagnostic) -> str:
    """A GitHub Actions workflow command; the message keeps the config path and the hint."""
    props = []
    if d.location is not None:
        props.append(f"file={_gh_property(d.location.file)}")
        if d.location.line > 0:
            props.append(f"line={d.location.line}")
            props.append(f"col={max(d.location.column, 1)}")
    title = f"{d.code} {d.extra.get('name', '')}".strip()
    props.append(f"title={_gh_property(title)}")
    message = f"{d.path}: {d.message}" if d.path else d.message
    if d.hint:
        message += f" (hint: {d.hint})"
    return f"::{_GITHUB_LEVEL[d.severity]} {','.join(props)}::{_gh_data(message)}"


def _uri(file: str) -> str:
    p = PurePath(file)
    if p.is_absolute():
        return "file://" + quote(p.as_posix())
    return quote(p.as_posix())


def sarif_result(d: Diagnostic, rule_index: int) -> dict:
    message = f"{d.path}: {d.message}" if d.path else d.message
    if d.hint:
        message += f" (hint: {d.hint})"
    result: dict = {"ruleId": d.code, "ruleIndex": rule_index, "level": _SARIF_LEVEL[d.severity],
                    "message": {"text": message}}
    if d.location is not None:
        physical: dict = {"artifactLocation": {"uri": _uri(d.location.file)}}
        if d.location.line > 0:
            physical["region"] = {"startLine": d.location.line, "startColumn": max(d.location.column, 1)}
        loc: dict = {"physicalLocation": physical}
        if d.path:
            loc["logicalLocations"] = [{"fullyQualifiedName": d.path, "kind": "member"}]
        result["locations"] = [loc]
    return result


# --------------------------------------------------------------------------- documents


def render_text(diags: list[Diagnostic], checks: dict) -> str:
    lines = [text_line(d) for d in diags]
    if diags:
        counts = {s: sum(d.severity is s for d in diags) for s in Severity}
        lines.append(", ".join(f"{n} {s.value}{'s' if n != 1 else ''}" for s, n in counts.items() if n))
    return "\n".join(lines) + ("\n" if lines else "")


def render_json(diags: list[Diagnostic], checks: dict) -> str:
    import json

    return json.dumps([json_object(d) for d in diags], indent=2, ensure_ascii=False) + "\n"


def render_github(diags: list[Diagnostic], checks: dict) -> str:
    return "".join(github_line(d) + "\n" for d in diags)


def sarif_rule(chk) -> dict:
    return {
        "id": chk.code,
        "name": chk.name,
        "shortDescription": {"text": chk.summary},
        "fullDescription": {"text": f"{chk.rationale} Source: {chk.citation}."},
        "help": {"text": chk.doc, "markdown": chk.doc},
        "defaultConfiguration": {"level": _SARIF_LEVEL[chk.severity]},
    }


def render_sarif(diags: list[Diagnostic], checks: dict) -> str:
    import json

    from recipec import __version__

    codes = list(checks)
    index = {c: i for i, c in enumerate(codes)}
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "recipec",
                "version": __version__,
                "rules": [sarif_rule(checks[c]) for c in codes],
            }},
            "columnKind": "unicodeCodePoints",
            "results": [sarif_result(d, index.get(d.code, -1)) for d in diags],
        }],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


FORMATS: dict[str, Callable[[list[Diagnostic], dict], str]] = {
    "text": render_text,
    "json": render_json,
    "sarif": render_sarif,
    "github": render_github,
}


def render(fmt: str, diags: Iterable[Diagnostic], checks: dict) -> str:
    return FORMATS[fmt](list(diags), checks)
