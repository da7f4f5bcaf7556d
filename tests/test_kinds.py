"""Per-parameter kinds: each matrix by its own fan-in ratio, and the rule-set fidelity fixes of issue 10.

Expected values are computed by hand from the formulas in the rule files, not from the engine.
"""

from __future__ import annotations

import math

import pytest

from recipec.kinds import KIND_CLASS, KINDS, fans, present
from recipec.load import load_recipe, load_recipe_text
from recipec.transfer import resolve_loaded
from recipec.transfer.engine import round_half_up
from tests.conftest import BASE, EXAMPLES

REL = 1e-12


def resolved(text: str, size: str | None = "big"):
    return resolve_loaded(load_recipe_text(text, "t.yaml"), size)


def test_every_kind_has_a_class_and_fans():
    from recipec.shape import resolve_shape

    r = load_recipe(EXAMPLES / "llama-proxy.yaml").recipe
    s = resolve_shape(r.model)
    for k in KINDS:
        assert KIND_CLASS[k] in ("hidden", "embedding", "output", "vector")
    for k in present(s):  # the MoE kinds (experts, router) have no fans in a dense model
        f = fans(k, s)
        assert f.fan_in > 0 and f.fan_out > 0
    assert not set(present(s)) & {"expert_in", "expert_out", "shared_in", "shared_out", "router"}
    assert fans("mlp_out", s) == (896, 256) and fans("mlp_in", s) == (256, 896)
    assert fans("k", s) == (256, 2 * 128)
    assert "output" in present(s) and "bias" not in present(s) and "qk_norm" in present(s)


def test_llama_proxy_1b_down_projection_uses_its_own_fan_in_ratio():
    """The issue's hand check: at 1b the FFN goes 896 -> 8192 (9.142857×) while width goes 256 -> 2048 (8×)."""
    r = resolve_loaded(load_recipe(EXAMPLES / "llama-proxy.yaml"), "1b")
    ratio = 8192 / 896
    assert r.kinds["mlp_out"].fan_in_ratio == pytest.approx(ratio, rel=REL)
    assert r.kinds["mlp_in"].fan_in_ratio == 8 and r.kinds["mlp_in"].lr is None  # gate/up: fan-in = width
    # fan2025: lr * fan_in^-1, completep alpha=1: depth^0, adam-sqrt-batch: sqrt(256/64) = 2
    gate_up, down = r.kind_coupled("mlp_in"), r.kind_coupled("mlp_out")
    assert gate_up.lr == pytest.approx(3e-3 / 8 * 2, rel=REL)
    assert down.lr == pytest.approx(3e-3 / ratio * 2, rel=REL)
    assert down.lr / gate_up.lr == pytest.approx(8 / ratio, rel=REL) == 0.875
    assert gate_up.init_std == pytest.approx(0.02 * 8 ** -0.5, rel=REL)
    assert down.init_std == pytest.approx(0.02 * ratio ** -0.5, rel=REL)
    assert down.weight_decay == pytest.approx(0.1 * ratio ** 0.5, rel=REL)  # fan2025: λ ∝ √fan_in
    assert gate_up.eps == down.eps  # eps follows the model width (CompleteP), not the fan ratio
    # the class value stays the width-m value that the recipe's per-class numbers describe
    assert r.classes["hidden"].lr.value == pytest.approx(gate_up.lr, rel=REL)


def test_mup_megatron_keeps_megatrons_single_width_mult():
    text = BASE.replace("transfer: [fan2025]", "transfer: [mup-megatron]").replace(
        "model: {width: 4096}", "model: {width: 4096, ffn_hidden: 17408}")
    r = resolved(text)
    assert r.kinds["mlp_out"].fan_in_ratio == pytest.approx(17408 / 1024, rel=REL)
    assert r.kinds["mlp_out"].lr is None  # --use-mup divides every hidden LR by the one hidden-size ratio


def test_completep_eps_and_final_norm_as_in_the_reference_code():
    """EleutherAI/nanoGPT-mup (completep branch) configure_optimizers: emb/unemb and final-norm eps ÷ m,
    hidden and block-norm eps ÷ (m · l^alpha); the final norm's LR has no depth factor."""
    text = BASE.replace("transfer: [fan2025]", "transfer: [mup-adamw, {name: completep, params: {alpha: 0.5}}]") \
        .replace("model: {width: 4096}", "model: {width: 1024, depth: 16}")
    r = resolved(text)
    m, depth = 4, 4  # width 256 -> 1024, depth 4 -> 16
    eps = 1e-8
    assert r.classes["hidden"].eps.value == pytest.approx(eps / m * depth ** -0.5, rel=REL)
    assert r.classes["embedding"].eps.value == pytest.approx(eps / m, rel=REL)
    assert r.classes["output"].eps.value == pytest.approx(eps / m, rel=REL)
    assert r.classes["vector"].eps.value == pytest.approx(eps / m * depth ** -0.5, rel=REL)  # block norms
    assert r.kind_coupled("final_norm").eps == pytest.approx(eps / m, rel=REL)
    assert r.classes["vector"].lr.value == pytest.approx(3e-3 * depth ** (0.5 - 1), rel=REL)
    assert r.kind_coupled("final_norm").lr == pytest.approx(3e-3, rel=REL)  # no depth factor


@pytest.mark.parametrize("batch", [32, 128, 16])
def test_adamw_timescale_holds_tau_as_a_fraction_of_the_run_when_the_batch_changes(batch):
    """τ_epoch = B/(η·λ·D): with adam-sqrt-batch η ∝ √b, so λ ∝ b/(t·√b); the fraction stays the proxy's."""
    text = BASE.replace("transfer: [fan2025]", "transfer: [adam-sqrt-batch, adamw-timescale]").replace(
        "model: {width: 4096}", f"batch: {{global_sequences: {batch}}}")
    proxy = resolved(text, None)
    r = resolved(text)
    b = batch / 32
    assert r.classes["hidden"].weight_decay.value == pytest.approx(0.1 * b / math.sqrt(b), rel=REL)
    assert r.derived.adamw_timescale_fraction == pytest.approx(proxy.derived.adamw_timescale_fraction, rel=1e-3)


def test_warmup_fraction_rounds_half_up():
    assert round_half_up(0.01, 3250) == 33  # 32.5: Python's round() would give 32
    assert round_half_up(0.01, 3249) == 32
    assert round_half_up(0.3, 5) == 2  # 1.5 (0.3 * 5 is 1.4999999999999998 in binary)
    assert round_half_up(0.0, 100) == 0


def test_per_kind_proxy_values_win_over_per_class():
    text = BASE.replace("  wd_convention: coupled\n",
                        "  wd_convention: coupled\n  per_kind:\n    mlp_out: {lr: 1.0e-3}\n")
    r = resolved(text)
    assert r.kind_coupled("mlp_out").lr == pytest.approx(1e-3 / 16, rel=REL)
    assert r.kind_coupled("mlp_in").lr == pytest.approx(3e-3 / 16, rel=REL)
    assert r.kinds["mlp_out"].lr.chain[0].note == "optimizer.per_kind.mlp_out.lr"
