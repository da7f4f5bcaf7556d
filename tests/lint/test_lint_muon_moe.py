"""Muon and MoE lint: what the schema refuses before any check runs, and the shipped Muon/MoE examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from recipec.lint import engine
from recipec.lint.config import config_from_table
from recipec.lint.registry import CHECKS

FIXTURES = Path(__file__).parent / "fixtures"
RECIPE = """name: fixture
model: {width: 256, depth: 4, head_dim: 64, ffn_multiplier: 4, vocab_size: 32000, seq_len: 1024}
optimizer:
  name: adamw
  lr: 3.0e-3
  muon:
    lr: 0.02
    kinds: [q, k, v, o, mlp_in, mlp_out, KIND]
batch: {global_sequences: 32}
run: {tokens: 1_000_000_000}
transfer: [mup-adamw]
"""


@pytest.mark.parametrize("kind", ["norm", "qk_norm", "final_norm", "bias"])
def test_muon_on_a_norm_or_bias_is_refused_by_the_schema(kind: str) -> None:
    """RC408 covers embedding and output; a vector kind in muon.kinds never loads (RC001, fatal)."""
    diags = engine.lint_text(RECIPE.replace("KIND", kind), "recipe.yaml", CHECKS, config_from_table({}, CHECKS),
                             base_dir=FIXTURES)
    assert [d.code for d in diags] == ["RC001"], diags
    assert engine.is_fatal(diags[0]) and "muon" in diags[0].path and diags[0].location.line == 8


@pytest.mark.parametrize("kind", ["embedding", "output"])
def test_muon_on_embedding_or_output_loads_and_is_rc408(kind: str) -> None:
    diags = engine.lint_text(RECIPE.replace("KIND", kind), "recipe.yaml", CHECKS, config_from_table({}, CHECKS),
                             base_dir=FIXTURES)
    assert "RC001" not in {d.code for d in diags}
    assert [(d.location.line, d.path) for d in diags if d.code == "RC408"] == [(8, "optimizer.muon.kinds[6]")]


def test_a_muon_rule_beside_the_main_rule_of_the_same_axis_and_ratio_is_applied() -> None:
    """mup-adamw's hidden LR rule (width, fan_in) and a Muon LR rule on the same (axis, ratio) are two rules, not
    one duplicate: each acts on the kinds of its optimizer (the RC409 fixture with rules/muon-fan-in.yaml)."""
    from recipec.load import load_recipe_text
    from recipec.transfer import load_rulesets, resolve

    text = RECIPE.replace(", KIND", "").replace("transfer: [mup-adamw]",
                                                "transfer: [mup-adamw, rules/muon-fan-in.yaml]")
    text += "sizes:\n  big: {model: {width: 1024}}\n"
    loaded = load_recipe_text(text, "recipe.yaml")
    sets = load_rulesets(loaded.recipe, FIXTURES, loaded.source_map, "recipe.yaml")
    r = resolve(loaded.recipe, "big", file="recipe.yaml", sha256=loaded.sha256, source_map=loaded.source_map,
                base_dir=FIXTURES, rulesets=sets)
    assert r.kinds["q"].optimizer == "muon"
    assert r.kinds["q"].lr.value == pytest.approx(0.02 / 4)  # Muon's rule: fan_in ratio 4, exponent -1
    assert r.classes["embedding"].lr.value == pytest.approx(3.0e-3)  # the main optimizer's embedding: no width rule
