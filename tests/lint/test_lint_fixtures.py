"""Every lint rule's pass and fail cases: one YAML file per code under fixtures/, one parametrized test.

A case holds a recipe text, an optional ``config`` (a [tool.recipec] table: target, options, …) and
``expect``: the findings *of that file's code* as code, line and column in the recipe text.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from recipec.lint import engine
from recipec.lint.config import config_from_table
from recipec.lint.registry import CHECKS

FIXTURES = Path(__file__).parent / "fixtures"


def _load(path: Path) -> dict:
    return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))


def _cases():
    for path in sorted(FIXTURES.glob("RC*.yaml")):
        data = _load(path)
        for case in data["cases"]:
            yield pytest.param(data["rule"], case, id=f"{data['rule']}-{case['name']}")


@pytest.mark.parametrize("code, case", list(_cases()))
def test_fixture(code: str, case: dict) -> None:
    cfg = config_from_table(case.get("config", {}), CHECKS)
    diags = engine.lint_text(case["recipe"], "recipe.yaml", CHECKS, cfg, base_dir=FIXTURES)
    got = [{"code": d.code, "line": d.location.line, "column": d.location.column} for d in diags if d.code == code]
    assert got == case["expect"], "\n".join(str(d) for d in diags)


def test_every_rule_has_passing_and_failing_fixtures() -> None:
    files = {p.stem for p in FIXTURES.glob("RC*.yaml")}
    assert files == set(CHECKS), f"missing: {sorted(set(CHECKS) - files)}, unknown: {sorted(files - set(CHECKS))}"
    for code in CHECKS:
        data = _load(FIXTURES / f"{code}.yaml")
        assert data["rule"] == code
        assert any(not c["expect"] for c in data["cases"]), f"{code}: no passing case"
        assert any(c["expect"] for c in data["cases"]), f"{code}: no failing case"
        for c in data["cases"]:
            assert all(e["code"] == code for e in c["expect"])
