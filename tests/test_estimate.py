"""recipec estimate: parameter and FLOP counts, memory arithmetic, OOM warning, errors. No torch."""

from __future__ import annotations

import pytest

from recipec.estimate import GIB, estimate, layer_activation_elements
from recipec.load import load_recipe
from recipec.transfer import resolve_loaded
from tests.conftest import LLAMA, run_cli


@pytest.fixture(scope="module")
def r8b():
    return resolve_loaded(load_recipe(LLAMA), "8b")


def test_8b_parameters_match_a_hand_count(r8b):
    d, L, V, f, kv = 4096, 32, 128256, 14336, 8 * 128
    attention = d * d + 2 * d * kv + d * d
    mlp = 3 * d * f
    norms = 2 * d + 2 * 128  # two RMSNorms and the qk-norms per layer
    hand = L * (attention + mlp + norms) + 2 * V * d + d
    e = estimate(r8b, 64)
    assert e.total_params == hand
    assert abs(e.total_params - 8.03e9) / 8.03e9 < 0.005  # Meta's LLaMA-3 8B: 8.03B parameters


def test_memory_arithmetic_fsdp_and_unsharded(r8b):
    n = r8b.derived.total_params
    e = estimate(r8b, 64, sharding="fsdp")
    assert e.data_parallel == 64
    assert e.memory.optimizer == pytest.approx(8 * n / 64)
    assert e.memory.gradients == pytest.approx(4 * n / 64)
    none = estimate(r8b, 64, sharding="none")
    assert none.memory.optimizer == pytest.approx(8 * n)
    assert none.memory.weights == pytest.approx(6 * n)  # fp32 master + bf16 working copy
    tokens = 2 * 4096  # micro batch 2
    per_layer = 2 * layer_activation_elements(r8b.shape, tokens)
    final_norm = 2 * 2 * 4096 * tokens  # bf16 input and output of the final RMSNorm
    assert e.memory.activations == pytest.approx(32 * per_layer + final_norm)
    assert e.memory.activations_checkpointed < e.memory.activations / 5
    assert e.memory.logits == pytest.approx(12 * tokens * 128256)  # three float32 copies at the loss
    # FSDP frees gradients between steps: the peak is the start of backward, without them
    m = e.memory
    assert not m.persistent_gradients and m.peak_at == "start of backward"
    assert m.total == pytest.approx(m.weights + m.optimizer + m.activations + m.logits)
    # Megatron's distributed optimizer keeps a gradient buffer through backward
    z = estimate(r8b, 64, sharding="zero1").memory
    assert z.persistent_gradients and z.total == pytest.approx(z.weights + z.optimizer + z.gradients + z.activations
                                                               + z.logits)


def test_eager_kernels_keep_more_than_fused(r8b):
    """Per token and layer: fused 4h + 2q + 2kv + 4f + (q + kv); eager 6h + 3q + 2kv + 4f + 2(q + kv)."""
    s = r8b.shape
    h, q, kv, f = s.width, s.heads * s.head_dim, s.kv_heads * s.head_dim, s.ffn_hidden
    assert layer_activation_elements(s, 1) == 4 * h + 2 * q + 2 * kv + 4 * f + q + kv
    assert layer_activation_elements(s, 1, "eager") == 6 * h + 3 * q + 2 * kv + 4 * f + 2 * (q + kv)
    eager = estimate(r8b, 64, kernels="eager").memory
    assert eager.optimizer_step == pytest.approx(4 * max(r8b.derived.params_by_class.values()) / 64)
    assert eager.activations > estimate(r8b, 64).memory.activations


def test_wall_time_and_flops(r8b):
    e = estimate(r8b, 64, gpu="h100", mfu=0.4)
    assert e.training_flops == r8b.derived.training_flops
    assert e.wall_seconds == pytest.approx(e.training_flops / (64 * 989e12 * 0.4))


@pytest.mark.slow
def test_out_of_memory_warns_and_exits_1():
    proc = run_cli("estimate", str(LLAMA), "--size", "70b", "--gpus", "8")
    assert proc.returncode == 1
    assert "warning:" in proc.stdout and "even with full activation checkpointing" in proc.stdout
    ok = run_cli("estimate", str(LLAMA), "--size", "8b")
    assert ok.returncode == 0, ok.stderr
    assert "parameters        8,030,269,440" in ok.stdout


def test_bad_gpu_count_is_a_usage_error():
    proc = run_cli("estimate", str(LLAMA), "--size", "70b", "--gpus", "12")
    assert proc.returncode == 2
    assert "--gpus: 12 GPUs do not divide into tensor × pipeline × context parallel = 8" in proc.stderr


def test_estimate_fits_70b_with_checkpointing_note(r8b):
    r70 = resolve_loaded(load_recipe(LLAMA), "70b")
    e = estimate(r70, 256)
    assert e.memory.total < 80 * GIB and not e.warnings
