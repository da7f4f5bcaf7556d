"""One list of framework gaps (recipec.frameworks.gaps): the renderers' notes and lint's RC603 cannot drift apart."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from recipec.cli import main
from recipec.frameworks.gaps import gaps
from recipec.load import load_recipe_text
from recipec.render import render
from recipec.transfer import resolve_loaded

# A recipe that every framework finds something to refuse in.
RECIPE = """\
name: gappy
model: {width: 256, depth: 4, head_dim: 64, ffn_multiplier: 4, vocab_size: 32000, seq_len: 1024,
        qk_norm: true, tied_embeddings: true, norm: layernorm, bias: true, rope_theta: 10000.5}
optimizer: {name: adamw, lr: 3.0e-3, weight_decay: 0.1, wd_convention: coupled, eps: 1.0e-8, z_loss: 1.0e-4}
init: {parametrization: mup, output_multiplier: 0.5, embedding_multiplier: 2.0}
schedule: {warmup: {fraction: 0.01}, decay: linear, min_lr_ratio: 0.1}
precision: fp8
batch: {global_sequences: 32}
run: {tokens: 1_000_000_000}
transfer: [mup-adamw, completep, adam-sqrt-batch]
sizes:
  big:
    model: {width: 1024, depth: 8}
    batch: {global_sequences: 128}
    run: {tokens: 3_000_000_000}
"""


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    path = tmp_path_factory.mktemp("gaps") / "gappy.yaml"
    path.write_text(RECIPE, encoding="utf-8")
    return path, load_recipe_text(RECIPE, str(path))


@pytest.mark.parametrize("target", ["torchtitan", "megatron", "hf"])
def test_every_gap_is_a_render_note_and_a_lint_finding(loaded, target):
    path, recipe = loaded
    resolved = resolve_loaded(recipe, "big")
    found = gaps(target, resolved)
    assert len(found) >= 3, found  # the recipe is built to trip several
    notes = [n for t, n in render(recipe, resolved, [target]).notes if t == target]
    for gap in found:
        assert gap.note in notes, (gap, notes)
    result = CliRunner().invoke(main, ["lint", "--target", target, "--format", "json", str(path)])
    findings = [f for f in json.loads(result.output) if f["code"] == "RC603"]
    expected: dict[str, str] = {}  # one finding per gap, with the note of the first size that shows it
    for res in (resolve_loaded(recipe, None), resolved):
        for gap in gaps(target, res):
            expected.setdefault(gap.key, gap.note)
    assert len(findings) == len(expected), (findings, expected)
    messages = " | ".join(f["message"] for f in findings)
    for note in expected.values():
        assert note in messages, (note, messages)


def test_neutral_has_no_gaps(loaded):
    _, recipe = loaded
    assert gaps("neutral", resolve_loaded(recipe, "big")) == []
