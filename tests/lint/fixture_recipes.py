"""Lint fixture recipes as a shared base plus per-case changes.

A case either gives its whole ``recipe`` text (broken YAML, suppression comments) or changes to
``fixtures/base.yaml``: ``set`` (config path -> value; a missing mapping on the way is created) and
``delete`` (config paths). ``recipe_text`` writes the case's recipe deterministically (ruamel's
round trip keeps the base's layout); ``position`` is where a config path's value (or key) sits in
that text, so an expected finding is stated as a config path (``at``) and checked as line:column.
"""

from __future__ import annotations

import io
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from recipec.load import parse_config_path
from recipec.load.yaml_source import parse_yaml

FIXTURES = Path(__file__).parent / "fixtures"
BASE = FIXTURES / "base.yaml"


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.width = 4096  # one value per line, as written
    y.indent(mapping=2, sequence=4, offset=2)
    y.representer.add_representer(type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null"))
    return y


def _flow(value):
    """Lists and mappings given in a case are written in flow style (``[a, b]``, ``{width: 1024}``)."""
    if isinstance(value, dict):
        out = CommentedMap((k, _flow(v)) for k, v in value.items())
        out.fa.set_flow_style()
        return out
    if isinstance(value, list):
        out = CommentedSeq(_flow(v) for v in value)
        out.fa.set_flow_style()
        return out
    return value


def recipe_text(case: dict) -> str:
    if "recipe" in case:
        return case["recipe"]
    y = _yaml()
    data = y.load(BASE.read_text(encoding="utf-8"))
    for key in case.get("delete", []):
        *parents, last = parse_config_path(key)
        node = data
        for p in parents:
            node = node[p]
        del node[last]
    for key, value in (case.get("set") or {}).items():
        *parents, last = parse_config_path(key)
        node = data
        for p in parents:
            if isinstance(node, dict) and p not in node:
                node[p] = CommentedMap()
            node = node[p]
        node[last] = _flow(value)
    buf = io.StringIO()
    y.dump(data, buf)
    return buf.getvalue()


def position(text: str, at: str, key: bool = False) -> tuple[int, int]:
    """Line and column of config path ``at`` (its value; its key with ``key``) in recipe ``text``."""
    _, smap = parse_yaml(text, "recipe.yaml")
    path = tuple(parse_config_path(at)) if at else ()
    table = smap.keys if key else smap.values
    assert path in table, f"{at!r} is not in the recipe"
    return table[path]
