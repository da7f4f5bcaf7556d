"""Output formats: SARIF validates against the 2.1.0 schema; GitHub output is workflow commands."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from recipec.diagnostics import Diagnostic, Location, Severity
from recipec.lint.formats import github_line, render, text_line
from recipec.lint.registry import CHECKS

SCHEMA = Path(__file__).resolve().parents[1] / "data" / "sarif-schema-2.1.0.json"
GITHUB = re.compile(r"^::(error|warning|notice) file=[^,:]+,line=\d+,col=\d+,title=[^,:]+::[^\r\n]+$")


@pytest.fixture(scope="module")
def diags(request) -> list[Diagnostic]:
    from recipec.lint import lint_paths

    repo = Path(__file__).resolve().parents[2]
    out = lint_paths([str(repo / "examples" / "bad")])
    assert len({d.code for d in out}) >= 3
    return out


def _mk(**kw) -> Diagnostic:
    base = dict(message="hidden weight decay is not scaled", path="optimizer.weight_decay",
                location=Location("recipe.yaml", 14, 9), severity=Severity.WARNING, code="RC102",
                hint="add fan2025", extra={"name": "hidden-wd-width"})
    base.update(kw)
    return Diagnostic(**base)


def test_text_line_format() -> None:
    assert text_line(_mk()) == ("recipe.yaml:14:9: RC102 warning: optimizer.weight_decay: hidden weight decay is "
                                "not scaled (hint: add fan2025)")


def test_sarif_validates_against_the_2_1_0_schema(diags) -> None:
    doc = json.loads(render("sarif", diags, CHECKS))
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator(schema).validate(doc)
    run = doc["runs"][0]
    assert doc["version"] == "2.1.0"
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == list(CHECKS)
    assert len(run["results"]) == len(diags)
    first = run["results"][0]
    assert first["locations"][0]["physicalLocation"]["region"]["startLine"] == diags[0].location.line
    assert run["tool"]["driver"]["rules"][first["ruleIndex"]]["id"] == first["ruleId"]


def test_sarif_of_nothing_validates() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator(schema).validate(json.loads(render("sarif", [], CHECKS)))


def test_github_lines_are_workflow_commands(diags) -> None:
    lines = render("github", diags, CHECKS).splitlines()
    assert len(lines) == len(diags)
    for line in lines:
        assert GITHUB.match(line), line


def test_github_escaping() -> None:
    d = _mk(message="100% sure\nsecond line", location=Location("a,b:c.yaml", 3, 1), severity=Severity.INFO)
    line = github_line(d)
    assert line.startswith("::notice file=a%2Cb%3Ac.yaml,line=3,col=1,title=RC102 hidden-wd-width::")
    assert "100%25 sure%0Asecond line" in line and "\n" not in line


def test_json_objects(diags) -> None:
    data = json.loads(render("json", diags, CHECKS))
    assert {"file", "line", "column", "code", "name", "severity", "path", "message", "hint"} <= set(data[0])
    assert [(o["code"], o["line"]) for o in data] == [(d.code, d.location.line) for d in diags]
