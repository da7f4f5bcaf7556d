"""Committed JSON Schemas match the models; examples and rule files validate against them."""

from __future__ import annotations

import json

import jsonschema
import pytest
from ruamel.yaml import YAML

from recipec.schema import SCHEMAS, dumps
from tests.conftest import ROOT

REGEN = "regenerate with: recipec schema --write schemas"


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_committed_schema_has_not_drifted(name):
    committed = (ROOT / "schemas" / name).read_text(encoding="utf-8")
    assert committed == dumps(SCHEMAS[name]()), f"schemas/{name} is stale; {REGEN}"


def _yaml(path):
    return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))


def test_examples_validate_against_recipe_schema():
    schema = json.loads((ROOT / "schemas" / "recipe.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        jsonschema.validate(_yaml(path), schema)


def test_rule_files_validate_against_ruleset_schema():
    schema = json.loads((ROOT / "schemas" / "ruleset.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    for path in sorted((ROOT / "rules").glob("*.yaml")):
        data = _yaml(path)
        jsonschema.validate(data, schema)
        assert data["name"] == path.stem
        assert path.read_text().startswith("# yaml-language-server: $schema=../schemas/ruleset.schema.json")


def test_recipe_schema_refuses_a_size_named_proxy():
    # '--size proxy' always means the recipe's own shape, so a size of that name could never be reached
    schema = json.loads((ROOT / "schemas" / "recipe.schema.json").read_text())
    data = _yaml(ROOT / "examples" / "llama-proxy.yaml")
    data["sizes"]["proxy"] = data["sizes"].pop("1b")
    with pytest.raises(jsonschema.ValidationError, match="proxy"):
        jsonschema.validate(data, schema)
