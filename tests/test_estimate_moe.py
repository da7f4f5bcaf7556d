"""recipec estimate for Muon and mixture-of-experts recipes: hand-computed counts, memory under expert
parallelism, Muon's single momentum buffer, and the all-to-all estimate (moe-proxy at xl: EP 8 on 16 GPUs)."""

from __future__ import annotations

import json

import pytest

from recipec.estimate import estimate, expert_params, kind_params, layer_activation_elements
from recipec.kinds import KIND_CLASS, present
from recipec.load import load_recipe, load_recipe_text
from recipec.transfer import resolve_loaded
from tests.conftest import ROOT, run_cli

MOE = ROOT / "examples" / "moe-proxy.yaml"
MUON = ROOT / "examples" / "muon-proxy.yaml"

# moe-proxy at xl, by hand: width 2048, depth 4, heads 32 × 64 (kv 32: the proxy has one query per kv head),
# 8 routed experts of 2048 (top-2) + 1 shared of 2048, vocab 32000, qk-norm, untied, seq 2048, bf16
D, L, E, K, FE, V, SEQ = 2048, 4, 8, 2, 2048, 32000, 2048
ATTN = 4 * D * D
ROUTED = E * 3 * D * FE
SHARED = 3 * D * FE
ROUTER = D * E
NORMS = 2 * D + 2 * 64
TOTAL = L * (ATTN + ROUTED + SHARED + ROUTER + NORMS) + 2 * V * D + D
ACTIVE = TOTAL - L * (E - K) * 3 * D * FE
N_EXP = L * ROUTED
GPUS, EP = 16, 8
EDP = GPUS // EP


@pytest.fixture(scope="module")
def moe_xl():
    return resolve_loaded(load_recipe(MOE), "xl")


@pytest.fixture(scope="module")
def muon_xl():
    return resolve_loaded(load_recipe(MUON), "xl")


def test_moe_counts_total_and_active_by_hand(moe_xl):
    e = estimate(moe_xl, GPUS)
    assert TOTAL == 651_250_176 and e.total_params == TOTAL
    assert e.moe.active_params == ACTIVE == 349_260_288
    assert e.moe.expert_params == N_EXP == expert_params(moe_xl.shape)
    assert (e.moe.expert_parallel, e.moe.expert_data_parallel, e.moe.experts_per_gpu) == (EP, EDP, 1)
    # FLOPs per token from the active parameters: 6·(active matmul weights) + attention
    matmul = L * (ATTN + SHARED + K * 3 * D * FE + ROUTER) + V * D
    assert moe_xl.derived.flops_per_token == pytest.approx(6 * matmul + 12 * L * D * SEQ)


def test_every_matrix_kind_is_counted_once(moe_xl, muon_xl):
    for r in (moe_xl, muon_xl):
        s = r.shape
        matrices = sum(kind_params(k, s) for k in present(s) if KIND_CLASS[k] != "vector")
        by_class = r.derived.params_by_class
        assert matrices == by_class["hidden"] + by_class["embedding"] + by_class["output"]


def test_moe_memory_per_gpu_with_expert_parallelism_by_hand(moe_xl):
    e = estimate(moe_xl, GPUS, sharding="fsdp")
    dense = TOTAL - N_EXP
    master = 4 * dense / GPUS + 4 * N_EXP / (EP * EDP)  # fp32 weights: dense over 16, experts over EP 8 × EDP 2
    hidden_dense = L * (ATTN + SHARED)
    vector = L * NORMS + D
    in_flight = (hidden_dense + vector) / L + N_EXP / L / EP  # one layer gathered: dense part and 1 of 8 experts
    assert e.memory.weights == pytest.approx(master + 2 * 2 * in_flight)
    assert e.memory.gradients == pytest.approx(master)
    assert e.memory.optimizer == pytest.approx(8 * dense / GPUS + 8 * N_EXP / (EP * EDP))
    z = estimate(moe_xl, GPUS, sharding="zero1")
    per_rank = dense + N_EXP / EP
    assert z.memory.weights == pytest.approx(master + 2 * per_rank)
    assert z.memory.gradients == pytest.approx(2 * per_rank)
    none = estimate(moe_xl, GPUS, sharding="none")
    assert none.memory.optimizer == pytest.approx(8 * per_rank)


def test_moe_activations_use_the_routed_copies_not_the_dense_ffn(moe_xl):
    s = moe_xl.shape
    h = q = kv = D  # 32 heads and 32 kv heads of 64
    fused = 4 * h + 2 * q + 2 * kv + (q + kv) + K * (2 * h + 4 * FE) + 4 * FE + 2 * E
    assert layer_activation_elements(s, 1) == fused
    tokens = 8 * SEQ  # micro batch 8
    e = estimate(moe_xl, GPUS)
    assert e.memory.activations == pytest.approx(L * 2 * fused * tokens + 2 * 2 * D * tokens)


def test_all_to_all_volume_by_hand(moe_xl):
    e = estimate(moe_xl, GPUS)
    tokens = 8 * SEQ  # micro batch 8 × seq 2048 on one GPU (no tensor or context parallel)
    layer = 4 * tokens * K * D * 2 * (EP - 1) / EP  # dispatch + combine, forward + backward, bf16
    assert layer == 469_762_048
    assert e.moe.all_to_all_layer_bytes == pytest.approx(layer)
    accumulation = 128 // (8 * GPUS)  # global 128 sequences
    assert accumulation == 1 and e.moe.micro_batches == 1
    assert e.moe.all_to_all_step_bytes == pytest.approx(layer * L * accumulation) == 1_879_048_192
    # with half the GPUs the accumulation doubles, and so does the volume per step
    half = estimate(moe_xl, 8)
    assert half.moe.expert_data_parallel == 1
    assert half.moe.all_to_all_step_bytes == pytest.approx(2 * layer * L)


def test_no_expert_parallelism_means_no_all_to_all():
    text = MOE.read_text(encoding="utf-8").replace("expert_parallel: 8", "expert_parallel: 1")
    assert "expert_parallel: 8" not in text
    r = resolve_loaded(load_recipe_text(text, "moe-ep1.yaml"), "xl")
    e = estimate(r, GPUS)
    assert e.moe.expert_parallel == 1 and e.moe.all_to_all_step_bytes == 0
    assert e.moe.expert_data_parallel == GPUS  # the experts are sharded over data parallel like the rest
    assert e.memory.optimizer == pytest.approx(8 * TOTAL / GPUS)


def test_muon_keeps_one_momentum_buffer(muon_xl):
    """muon-proxy at xl: every hidden matrix trains with Muon (4 bytes of state), the rest with AdamW (8)."""
    d, layers, kv, ffn = 2048, 8, 16 * 64, 5504  # ffn: 8/3 · 2048 rounded up to 128
    hidden = layers * (2 * d * d + 2 * d * kv + 3 * d * ffn)
    assert hidden == 371_195_904
    n = muon_xl.derived.total_params
    e = estimate(muon_xl, 16)
    assert e.muon_params == hidden
    assert e.memory.optimizer == pytest.approx((8 * (n - hidden) + 4 * hidden) / 16)
    # the eager AdamW step's temporary covers its largest group, which no longer holds the hidden matrices
    eager = estimate(muon_xl, 16, kernels="eager")
    by_class = muon_xl.derived.params_by_class
    assert eager.memory.optimizer_step == pytest.approx(4 * max(by_class["embedding"], by_class["output"]) / 16)


def test_expert_parallel_must_divide_the_gpus_of_a_stage():
    proc = run_cli("estimate", str(MOE), "--size", "xl", "--gpus", "4")
    assert proc.returncode == 2
    assert "expert_parallel 8 must divide the 8 experts and the 4 GPUs of a pipeline stage" in proc.stderr


def test_json_and_text_state_the_estimate_and_its_formula():
    proc = run_cli("estimate", str(MOE), "--size", "xl", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    moe = data["moe"]
    assert moe["estimate"] is True and "4 * T * top_k * width * bytes * (EP - 1) / EP" in moe["formula"]
    assert "our estimate" in moe["formula"] and "our estimate" in moe["memory_formula"]
    assert moe["all_to_all_bytes_per_step_per_gpu"] == 1_879_048_192
    assert data["params"]["active_per_token"] == ACTIVE and data["params"]["total"] == TOTAL
    text = run_cli("estimate", str(MOE), "--size", "xl")
    assert "349,260,288 active per token (top-2 of 8 experts)" in text.stdout
    assert "all-to-all        1.750 GiB per GPU per step (estimate: 4·T·k·h·b·(EP−1)/EP" in text.stdout
    dense = run_cli("estimate", str(MUON), "--size", "xl", "--format", "json")
    assert "moe" not in json.loads(dense.stdout)
