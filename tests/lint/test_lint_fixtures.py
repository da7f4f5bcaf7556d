"""Every lint check's pass and fail cases: one YAML file per code under fixtures/, one parametrized test.

A case holds its changes to ``fixtures/base.yaml`` (or a whole recipe text; see ``fixture_recipes``), an
optional ``config`` (a [tool.recipec] table: target, options, …) and ``expect``: the findings *of that
file's code*, each at a config path of the written recipe (``at``) or at an explicit line and column.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from recipec.lint import engine
from recipec.lint.config import config_from_table
from recipec.lint.registry import CHECKS
from tests.lint.fixture_recipes import FIXTURES, position, recipe_text


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
    text = recipe_text(case)
    diags = engine.lint_text(text, "recipe.yaml", CHECKS, cfg, base_dir=FIXTURES)
    got = [{"code": d.code, "line": d.location.line, "column": d.location.column} for d in diags if d.code == code]
    want = []
    for e in case["expect"]:
        line, column = position(text, e["at"], key=e.get("key", False)) if "at" in e else (e["line"], e["column"])
        want.append({"code": e["code"], "line": line, "column": column})
    assert got == want, "\n".join(str(d) for d in diags) + "\n\n" + text


def test_fixture_recipes_are_written_deterministically() -> None:
    cases = [case for _, case in (p.values for p in _cases())]
    assert len(cases) >= 74  # issue 14's 74 cases, plus the Muon / MoE cases of issue 15
    overlays = [c for c in cases if "recipe" not in c]
    assert len(overlays) >= 69
    assert all(recipe_text(c) == recipe_text(c) for c in overlays[::8])
    assert recipe_text({}) == (FIXTURES / "base.yaml").read_text(encoding="utf-8")  # the base as it is
    changed = recipe_text({"set": {"sizes.big.overrides.hidden.weight_decay": 0.1}, "delete": ["sizes.big.model"]})
    assert "overrides: {hidden: {weight_decay: 0.1}}" in changed or "weight_decay: 0.1" in changed.split("big:")[1]
    assert "model: {width: 1024}" not in changed and position(changed, "sizes.big.overrides.hidden.weight_decay")


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
