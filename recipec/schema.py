"""JSON Schemas generated from the pydantic models (committed under schemas/; a test checks drift).

Above the models it reads (recipe, rule sets, the verify report), which never import it: each schema's
``$schema``, ``$id`` and title are stamped here.
"""

from __future__ import annotations

import json

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _bound(value) -> str:
    if isinstance(value, float) and not value.is_integer() or isinstance(value, float) and abs(value) >= 1e16:
        return f"{value:g}"
    return str(int(value))


def _range_text(node: dict) -> str | None:
    """'Range: 1 to 16777216.' for a numeric schema node (or an optional one: anyOf [number, null])."""
    from recipec.recipe import MAX_REAL, MIN_REAL

    branches = node.get("anyOf", [node])
    for b in branches:
        if b.get("type") not in ("integer", "number"):
            continue
        low = b.get("minimum", b.get("exclusiveMinimum"))
        high = b.get("maximum", b.get("exclusiveMaximum"))
        if low is None and high is None:
            return None
        if b.get("type") == "number" and low == 0 and "minimum" in b and high == MAX_REAL:
            return f"Range: 0, or {MIN_REAL:g} to {MAX_REAL:g}."
        lo = ("above " if "exclusiveMinimum" in b else "") + _bound(low) if low is not None else None
        if "exclusiveMinimum" in b and b.get("type") == "integer" and low == 0:
            lo = "1"
        hi = _bound(high) if high is not None else None
        if lo and hi:
            return f"Range: {lo} to {hi}."
        return f"Range: at least {lo}." if lo else f"Range: at most {hi}."
    return None


def _describe_ranges(node) -> None:
    """Append each number's range to its description, so editors show the bounds the schema enforces."""
    if isinstance(node, dict):
        for prop in (node.get("properties") or {}).values():
            text = _range_text(prop)
            if text:
                prop["description"] = (prop.get("description", "").rstrip() + " " + text).strip()
        for key in ("additionalProperties", "items"):
            sub = node.get(key)
            if isinstance(sub, dict):
                text = _range_text(sub)
                if text and "description" not in sub:
                    sub["description"] = text
        for value in node.values():
            _describe_ranges(value)
    elif isinstance(node, list):
        for value in node:
            _describe_ranges(value)


def recipe_schema() -> dict:
    from recipec.recipe import Recipe

    schema = Recipe.model_json_schema(by_alias=True)
    _describe_ranges(schema)
    return {"$schema": SCHEMA_DIALECT, "$id": "https://recipec.dev/schemas/recipe.schema.json",
            "title": "recipec recipe", **{k: v for k, v in schema.items() if k != "title"}}


def ruleset_schema() -> dict:
    from recipec.transfer.ruleset import RuleSetFile

    schema = RuleSetFile.model_json_schema(by_alias=True)
    _describe_ranges(schema)
    return {"$schema": SCHEMA_DIALECT, "$id": "https://recipec.dev/schemas/ruleset.schema.json",
            "title": "recipec transfer rule set", **{k: v for k, v in schema.items() if k != "title"}}


def verify_report_schema() -> dict:
    from recipec.verify.report import VerifyReport

    schema = VerifyReport.model_json_schema()
    return {"$schema": SCHEMA_DIALECT, "$id": "https://recipec.dev/schemas/verify-report.schema.json",
            "title": "recipec verify report", **{k: v for k, v in schema.items() if k != "title"}}


SCHEMAS = {"recipe.schema.json": recipe_schema, "ruleset.schema.json": ruleset_schema,
           "verify-report.schema.json": verify_report_schema}


def dumps(schema: dict) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
