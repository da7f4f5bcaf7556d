"""Hand-checkable transfer numbers (issue acceptance) and the rule engine's composition semantics."""

from __future__ import annotations

import math

import pytest

from recipec.diagnostics import RecipecError
from recipec.load import load_recipe_text
from recipec.transfer import coupled_to_independent, independent_to_coupled, resolve_loaded
from tests.conftest import BASE

REL = 1e-12


def resolved(text: str, size: str | None = "big", sets: list[str] | None = None):
    return resolve_loaded(load_recipe_text(text, "t.yaml", sets=sets), size)


def test_fan2025_hand_numbers():
    r = resolved(BASE)
    h = r.classes["hidden"]
    assert r.ratios["width"] == 16
    assert h.lr.value == pytest.approx(1.875e-4, rel=REL)
    assert h.weight_decay.value == pytest.approx(0.4, rel=REL)
    assert h.init_std.value == pytest.approx(0.005, rel=REL)
    assert r.classes["vector"].weight_decay.value == 0
    assert r.classes["embedding"].weight_decay.value == 0
    assert r.classes["output"].weight_decay.value == 0
    # vector-like parameters keep their LR
    assert r.classes["vector"].lr.value == pytest.approx(3e-3, rel=REL)
    assert r.classes["embedding"].lr.value == pytest.approx(3e-3, rel=REL)
    assert r.multipliers.output_multiplier.value == pytest.approx(1 / 16, rel=REL)


def test_mup_adamw_hand_numbers():
    r = resolved(BASE.replace("transfer: [fan2025]", "transfer: [mup-adamw]"))
    h = r.classes["hidden"]
    assert h.lr.value == pytest.approx(1.875e-4, rel=REL)
    assert h.weight_decay.value == pytest.approx(1.6, rel=REL)
    # eta * lambda fixed: the AdamW timescale in steps does not change with width
    proxy = resolved(BASE.replace("transfer: [fan2025]", "transfer: [mup-adamw]"), None)
    assert r.derived.adamw_timescale_steps == pytest.approx(proxy.derived.adamw_timescale_steps, rel=REL)


def test_mup_megatron_keeps_wd_and_scales_eps():
    r = resolved(BASE.replace("transfer: [fan2025]", "transfer: [mup-megatron]"))
    h = r.classes["hidden"]
    assert h.weight_decay.value == pytest.approx(0.1, rel=REL)
    assert h.eps.value == pytest.approx(1e-8 / 16, rel=REL)
    assert r.classes["vector"].weight_decay.value == 0
    assert r.classes["embedding"].weight_decay.value == pytest.approx(0.1, rel=REL)


def test_provenance_chain_names_rule_axis_ratio_exponent():
    r = resolved(BASE)
    chain = r.classes["hidden"].weight_decay.chain
    assert chain[0].kind == "proxy" and chain[0].value == 0.1
    step = chain[1]
    assert (step.kind, step.ruleset, step.axis, step.ratio, step.exponent) == ("power", "fan2025", "width", 16, 0.5)
    assert step.factor == pytest.approx(4, rel=REL)
    assert step.file == "rules/fan2025.yaml"
    fixed = r.classes["vector"].weight_decay.chain[-1]
    assert (fixed.kind, fixed.ruleset, fixed.value) == ("fixed", "fan2025", 0)


def test_scaling_down_works():
    text = BASE.replace("model: {width: 4096}", "model: {width: 64}")
    r = resolved(text)
    assert r.ratios["width"] == 0.25
    assert r.classes["hidden"].lr.value == pytest.approx(3e-3 * 4, rel=REL)
    assert r.classes["hidden"].weight_decay.value == pytest.approx(0.1 * 0.5, rel=REL)


def test_coupled_independent_conversion_is_explicit():
    assert coupled_to_independent(0.1, 3e-3) == pytest.approx(3e-4, rel=REL)
    assert independent_to_coupled(3e-4, 3e-3) == pytest.approx(0.1, rel=REL)
    # The same recipe written in the independent convention resolves to the same physics.
    coupled = resolved(BASE)
    indep_text = BASE.replace("weight_decay: 0.1", "weight_decay: 3.0e-4").replace(
        "wd_convention: coupled", "wd_convention: independent")
    indep = resolved(indep_text)
    for cls in ("hidden", "embedding", "output", "vector"):
        assert indep.coupled_weight_decay(cls) == pytest.approx(coupled.coupled_weight_decay(cls), rel=1e-12)
    h = indep.classes["hidden"]
    # independent λ' = η·λ = 1.875e-4 · 0.4
    assert h.weight_decay.value == pytest.approx(1.875e-4 * 0.4, rel=1e-12)
    kinds = [s.kind for s in h.weight_decay.chain]
    assert kinds == ["proxy", "convert", "power", "convert"]


def test_batch_rule_sqrt_for_adam():
    text = BASE.replace("transfer: [fan2025]", "transfer: [fan2025, adam-sqrt-batch]").replace(
        "model: {width: 4096}", "model: {width: 4096}\n    batch: {global_sequences: 512}")
    r = resolved(text)
    assert r.ratios["batch"] == 16
    assert r.classes["hidden"].lr.value == pytest.approx(3e-3 / 16 * 4, rel=REL)
    assert r.classes["vector"].lr.value == pytest.approx(3e-3 * 4, rel=REL)
    # the timescale follows the resolved values
    h = r.classes["hidden"]
    assert r.derived.adamw_timescale_steps == pytest.approx(1 / (h.lr.value * h.weight_decay.value), rel=REL)


def test_wrong_optimizer_for_rule_set_is_recorded():
    text = BASE.replace("transfer: [fan2025]", "transfer: [fan2025, sgd-linear-batch]")
    r = resolved(text)
    assert any("sgd-linear-batch" in w.message and "adamw" in w.message and w.code == "RC403" for w in r.warnings)


def test_completep_depth_with_parameter():
    text = BASE.replace("transfer: [fan2025]",
                        "transfer: [mup-adamw, {name: completep, params: {alpha: 0.5}}]").replace(
        "model: {width: 4096}", "model: {width: 256, depth: 16}")
    r = resolved(text)
    assert r.ratios["depth"] == 4
    assert r.multipliers.residual_multiplier.value == pytest.approx(4 ** -0.5, rel=REL)
    assert r.classes["hidden"].lr.value == pytest.approx(3e-3 * 4 ** -0.5, rel=REL)
    assert r.classes["hidden"].eps.value == pytest.approx(1e-8 * 4 ** -0.5, rel=REL)
    assert r.classes["hidden"].weight_decay.value == pytest.approx(0.1, rel=REL)  # no depth factor on WD


def test_adamw_timescale_on_tokens():
    text = BASE.replace("transfer: [fan2025]", "transfer: [mup-adamw, adamw-timescale]").replace(
        "model: {width: 4096}", "model: {width: 256}\n    run: {tokens: 400000000}")
    r = resolved(text)
    assert r.ratios["tokens"] == 4
    assert r.classes["hidden"].weight_decay.value == pytest.approx(0.025, rel=REL)
    proxy = resolved(text, None)
    # tau_epoch = tau_iter * B / D stays fixed
    def tau_epoch(x):
        return x.derived.adamw_timescale_steps * x.batch.global_tokens / x.derived.tokens

    assert tau_epoch(r) == pytest.approx(tau_epoch(proxy), rel=1e-9)


def test_absolute_formulas_deepseek_and_step_law():
    r = resolved(BASE.replace("transfer: [fan2025]", "transfer: [deepseek-2024]"))
    c = r.derived.training_flops
    assert r.classes["hidden"].lr.value == pytest.approx(0.3118 * c ** -0.125, rel=REL)
    assert r.classes["vector"].lr.value == pytest.approx(0.3118 * c ** -0.125, rel=REL)
    assert r.derived.recommended_batch_tokens.value == pytest.approx(0.2920 * c ** 0.3271, rel=REL)
    s = resolved(BASE.replace("transfer: [fan2025]", "transfer: [step-law-2025]"))
    n, d = s.derived.non_embedding_params, s.derived.tokens
    assert s.classes["hidden"].lr.value == pytest.approx(1.79 * n ** -0.713 * d ** 0.307, rel=REL)
    assert s.derived.recommended_batch_tokens.value == pytest.approx(0.58 * d ** 0.571, rel=REL)


def test_size_override_replaces_and_is_recorded():
    text = BASE.replace("model: {width: 4096}", "model: {width: 4096}\n    overrides: {hidden: {lr: 1.0e-4}}")
    r = resolved(text)
    v = r.classes["hidden"].lr
    assert v.value == 1e-4 and v.chain[-1].kind == "override"


def test_derived_figures_8b_hand_count():
    from recipec.load import load_recipe
    from tests.conftest import LLAMA

    r = resolve_loaded(load_recipe(LLAMA), "8b")
    s = r.shape
    assert (s.width, s.depth, s.heads, s.head_dim, s.kv_heads, s.ffn_hidden) == (4096, 32, 32, 128, 8, 14336)
    d, L, V, f = 4096, 32, 128256, 14336
    per_layer = d * d * 2 + 2 * d * 1024 + 3 * d * f + 2 * d + 2 * 128  # q,o + k,v + mlp + norms + qk-norm
    total = L * per_layer + 2 * V * d + d
    assert r.derived.total_params == total
    assert abs(total - 8.03e9) / 8.03e9 < 0.005  # LLaMA-3 8B is 8.03B parameters
    assert r.derived.non_embedding_params == total - 2 * V * d
    tokens = 209_715_200_000
    assert r.derived.tokens == tokens
    assert r.derived.tokens_per_param == pytest.approx(tokens / total)
    flops = (6 * (L * (d * d * 2 + 2 * d * 1024 + 3 * d * f) + V * d) + 12 * L * d * 4096) * tokens
    assert r.derived.training_flops == pytest.approx(flops, rel=1e-12)
    assert r.schedule.total_steps == tokens // (1024 * 4096) == 50_000
    assert r.schedule.warmup_steps == 500
    assert r.batch.data_parallel == 64 and r.batch.grad_accum == 8
    h = r.classes["hidden"]
    tau = 1 / (h.lr.value * h.weight_decay.value)
    assert r.derived.adamw_timescale_steps == pytest.approx(tau)
    assert r.derived.adamw_timescale_fraction == pytest.approx(tau / 50_000)


def test_conflicting_rule_sets_name_both_files():
    text = BASE.replace("transfer: [fan2025]", "transfer: [fan2025, mup-adamw]")
    with pytest.raises(RecipecError) as e:
        resolved(text)
    msg = str(e.value)
    assert "rules/fan2025.yaml" in msg and "rules/mup-adamw.yaml" in msg
    assert "(width, hidden, weight_decay)" in msg


def test_identical_rules_in_two_sets_are_not_a_conflict():
    # completep and mup-megatron both say hidden eps / m: same spec, applied once
    text = BASE.replace("transfer: [fan2025]", "transfer: [mup-megatron, completep]")
    r = resolved(text)
    assert r.classes["hidden"].eps.value == pytest.approx(1e-8 / 16, rel=REL)


def test_user_rule_file_relative_to_recipe(tmp_path):
    rules = tmp_path / "my-rules.yaml"
    rules.write_text(
        "name: mine\ntitle: custom\nsource: {citation: 'internal sweep 2026-11'}\n"
        "rules:\n  - {axis: width, class: hidden, hp: weight_decay, exponent: 0.8}\n"
        "  - {axis: width, class: hidden, hp: lr, exponent: -1}\n")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(BASE.replace("transfer: [fan2025]", "transfer: [./my-rules.yaml]"))
    from recipec.load import load_recipe

    r = resolve_loaded(load_recipe(recipe), "big")
    assert r.classes["hidden"].weight_decay.value == pytest.approx(0.1 * 16 ** 0.8, rel=REL)
    assert r.rulesets[0].file == "./my-rules.yaml"


def test_attention_scale_default_follows_head_dim():
    # no width rule set: nothing says how the logit scale transfers, so the frameworks' 1/sqrt(head_dim) holds
    text = BASE.replace("model: {width: 4096}", "model: {width: 4096, head_dim: 128}").replace(
        "transfer: [fan2025]", "transfer: [adam-sqrt-batch]")
    r = resolved(text)
    assert r.multipliers.attn_logit_scale.value == pytest.approx(1 / math.sqrt(128), rel=REL)
    assert r.multipliers.attn_logit_scale.chain[-1].ruleset == "default"


@pytest.mark.parametrize("ruleset", ["fan2025", "mup-adamw", "mup-megatron"])
def test_mup_attention_scale_is_one_over_head_dim_anchored_at_the_proxy(ruleset):
    # proxy head_dim 64: 1/sqrt(64) = 1/8; at head_dim 128 muP's 1/d_head law gives 1/8 * (128/64)^-1 = 1/16
    text = BASE.replace("model: {width: 4096}", "model: {width: 4096, head_dim: 128}").replace(
        "transfer: [fan2025]", f"transfer: [{ruleset}]")
    r = resolved(text)
    assert r.multipliers.attn_logit_scale.value == pytest.approx(1 / 16, rel=REL)
    assert r.multipliers.attn_logit_scale.chain[-1].ruleset == ruleset


def test_absolute_formula_conflicts_with_a_power_law_on_the_same_value():
    text = BASE.replace("transfer: [fan2025]", "transfer: [deepseek-2024, adam-sqrt-batch]")
    with pytest.raises(RecipecError) as e:
        resolved(text)
    first = e.value.diagnostics[0]
    assert first.path == "transfer[1]"
    assert "rules/deepseek-2024.yaml sets it by an absolute formula" in first.message
    assert "rules/adam-sqrt-batch.yaml scales it by a power law" in first.message
