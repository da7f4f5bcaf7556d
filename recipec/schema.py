"""JSON Schemas generated from the pydantic models (committed under schemas/; a test checks drift)."""

from __future__ import annotations

import json

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def recipe_schema() -> dict:
    from recipec.recipe import Recipe

    schema = Recipe.model_json_schema(by_alias=True)
    return {"$schema": SCHEMA_DIALECT, "$id": "https://recipec.dev/schemas/recipe.schema.json",
            "title": "recipec recipe", **{k: v for k, v in schema.items() if k != "title"}}


def ruleset_schema() -> dict:
    from recipec.transfer.ruleset import RuleSetFile

    schema = RuleSetFile.model_json_schema(by_alias=True)
    return {"$schema": SCHEMA_DIALECT, "$id": "https://recipec.dev/schemas/ruleset.schema.json",
            "title": "recipec transfer rule set", **{k: v for k, v in schema.items() if k != "title"}}


def verify_report_schema() -> dict:
    from recipec.verify.report import schema

    return schema()


SCHEMAS = {"recipe.schema.json": recipe_schema, "ruleset.schema.json": ruleset_schema,
           "verify-report.schema.json": verify_report_schema}


def dumps(schema: dict) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
