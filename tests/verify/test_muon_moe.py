"""verify on the issue-15 recipes: the reference model's mixture-of-experts block, Muon in the trainer,
σ and the coord check over the MoE kinds, and the two examples end to end at tiny CPU settings."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402

from recipec.cli import main  # noqa: E402
from recipec.load import load_recipe  # noqa: E402
from recipec.verify import ladder  # noqa: E402
from recipec.verify.model import Decoder, classify, logits_and_aux  # noqa: E402
from recipec.verify.spec import model_config  # noqa: E402
from recipec.verify.train import Optimizers, class_hyper, hidden_timescale, kind_hyper, param_groups  # noqa: E402
from tests.conftest import ROOT  # noqa: E402

MUON = ROOT / "examples" / "muon-proxy.yaml"
MOE = ROOT / "examples" / "moe-proxy.yaml"
# The Muon example's head_dim is 64 with 2 query heads per kv head, so its narrowest width is 128; and
# torch.optim.Muon runs Newton–Schulz in bfloat16, which a CPU without bf16 instructions does ~20× slower
# than float32 (8.7 s a step at width 256 on the test machine). Tiny CPU runs therefore take head_dim 16
# and 8 kv heads (2 query heads per kv head, as the example): widths from 32.
MUON_TINY = ["--set", "model.head_dim=16", "--set", "model.kv_heads=8"]


def _rung(path, width, sets=(), depth=1):
    loaded = load_recipe(path, sets=list(sets))
    return ladder.plan(loaded, "wide", [width], depth)[0]


def _moe_model(score="softmax", width=64, **change):
    rung = _rung(MOE, width, ["model.moe.router_score=" + score] if score != "softmax" else [])
    cfg = dataclasses.replace(model_config(rung.resolved, 256, 16, rung.moe), **change)
    torch.manual_seed(0)
    return Decoder(cfg), rung


# --------------------------------------------------------------------------- the MoE block


def test_moe_parameters_are_classified_by_structure_and_initialised_per_kind():
    model, rung = _moe_model()
    kinds = {n: classify(n, p) for n, p in model.named_parameters()}
    assert kinds["blocks.0.moe.router.weight"] == ("output", "router")
    assert kinds["blocks.0.moe.experts.7.w1.weight"] == ("hidden", "expert_in")
    assert kinds["blocks.0.moe.experts.7.w3.weight"] == ("hidden", "expert_in")
    assert kinds["blocks.0.moe.experts.0.w2.weight"] == ("hidden", "expert_out")
    assert kinds["blocks.0.moe.shared_experts.w1.weight"] == ("hidden", "shared_in")
    assert kinds["blocks.0.moe.shared_experts.w2.weight"] == ("hidden", "shared_out")
    assert not any(k in ("mlp_in", "mlp_out") for _, k in kinds.values())
    s = rung.resolved.shape
    assert model.blocks[0].moe.experts[0].w1.weight.shape == (s.expert_ffn_hidden, 64)
    assert model.blocks[0].moe.shared_experts.w2.weight.shape == (64, s.shared_experts * s.expert_ffn_hidden)
    assert len(model.blocks[0].moe.experts) == s.num_experts == 8
    # the router's init std is its own (mup-moe: ∝ 1/fan_in), distinct from the experts'
    router_std = rung.resolved.kind_coupled("router").init_std
    assert router_std != rung.resolved.kind_coupled("expert_in").init_std
    assert float(model.blocks[0].moe.router.weight.detach().std()) == pytest.approx(router_std, rel=0.05)


def _by_hand(moe, x):
    """Every expert on every token, weighted by the routing mask: the dense reference of the gather loop."""
    c = moe.cfg
    flat = x.reshape(-1, x.shape[-1])
    scores = moe.router(flat).float()
    scores = scores.softmax(-1) if c.router_score == "softmax" else scores.sigmoid()
    w, idx = scores.topk(c.top_k, dim=-1)
    w = w / w.sum(-1, keepdim=True)  # top-k gates renormalised (softmax and sigmoid), as every target renders it
    gate = torch.zeros_like(scores).scatter(1, idx, w)
    out = sum(gate[:, e:e + 1] * expert(flat) for e, expert in enumerate(moe.experts))
    out = out + moe.shared_experts(flat)
    f = torch.zeros(c.num_experts).scatter_add(0, idx.reshape(-1), torch.ones(idx.numel())) / idx.numel()
    p = scores if c.router_score == "softmax" else scores / scores.sum(-1, keepdim=True)
    return out.view_as(x), c.aux_loss_coeff * c.num_experts * float((f * p.mean(0)).sum().detach())


@pytest.mark.parametrize("score", ["softmax", "sigmoid"])
def test_moe_forward_equals_the_dense_computation_and_is_deterministic(score):
    model, _ = _moe_model(score)
    moe = model.blocks[0].moe
    x = torch.randn(2, 16, 64, generator=torch.Generator().manual_seed(3))
    y, aux = moe(x)
    ref, ref_aux = _by_hand(moe, x)
    assert torch.allclose(y, ref, atol=1e-6)
    assert float(aux.detach()) == pytest.approx(ref_aux, rel=1e-5)
    y2, aux2 = moe(x)
    assert torch.equal(y, y2) and torch.equal(aux, aux2)


def test_aux_loss_is_the_coefficient_under_uniform_routing_and_trains_the_router():
    model, rung = _moe_model()
    moe = model.blocks[0].moe
    with torch.no_grad():
        moe.router.weight.zero_()  # every score 1/E: P_i = 1/E; top-k of ties still assigns T·k slots
    x = torch.randn(4, 8, 64)
    _, aux = moe(x)
    # E·Σ f_i·(1/E) = Σ f_i = 1, so the loss is the coefficient itself
    assert float(aux.detach()) == pytest.approx(rung.moe.aux_loss_coeff, rel=1e-6)
    logits, total_aux = logits_and_aux(model, model, torch.randint(0, 256, (2, 16)))
    assert total_aux is not None and logits.shape == (2, 16, 256)
    total_aux.backward()
    assert float(moe.router.weight.grad.abs().sum()) > 0


def test_residual_and_router_multipliers_reach_the_forward():
    model, rung = _moe_model(residual_multiplier=0.0)
    x = torch.randn(1, 4, 64)
    cos, sin = model.rope_cos, model.rope_sin
    block = model.blocks[0]
    out, _ = block(x, cos, sin)
    assert torch.equal(out, x)  # both branches scaled by the (here 0) residual multiplier
    model, _ = _moe_model(router_multiplier=2.0)
    r = model.blocks[0].moe.router
    assert torch.allclose(r(x), 2.0 * torch.nn.functional.linear(x, r.weight))


# --------------------------------------------------------------------------- Muon in the trainer


def test_muon_kinds_get_torch_muon_with_the_resolved_values_and_the_rest_adamw():
    rung = _rung(MUON, 128)
    r = rung.resolved
    cfg = model_config(r, 256, 16)
    model = Decoder(cfg)
    compression = 3.0
    opt = Optimizers(param_groups(model, class_hyper(r, compression), r.optimizer.betas, r, compression),
                     torch.device("cpu"), lambda s: min(1.0, (s + 1) / 4))
    adamw, muon = opt.parts
    assert isinstance(adamw, torch.optim.AdamW) and isinstance(muon, torch.optim.Muon)
    muon_kinds = {g["name"] for g in muon.param_groups}
    assert muon_kinds == set(r.muon.kinds) == {"q", "k", "v", "o", "mlp_in", "mlp_out"}
    assert {g["name"] for g in adamw.param_groups} == {"embedding", "output", "vector", "final_norm"}
    for g in muon.param_groups:
        k = r.kinds[g["name"]]
        assert g["lr"] == pytest.approx(k.lr.value / 4)  # the warm-up multiplier at step 0 (1/4)
        assert g["weight_decay"] == pytest.approx(k.weight_decay.value * compression)  # coupled already
        assert (g["momentum"], g["nesterov"], g["ns_steps"], g["eps"], g["adjust_lr_fn"]) == (
            0.95, True, 5, r.muon.eps, "match_rms_adamw")
        assert all(classify(n, p)[1] == g["name"] for n, p in model.named_parameters()
                   if any(p is q for q in g["params"]))
    # both optimizers follow the one schedule
    loss = model(torch.randint(0, 256, (2, 8))).square().mean()
    loss.backward()
    opt.step()
    assert muon.param_groups[0]["lr"] == pytest.approx(r.kinds[muon.param_groups[0]["name"]].lr.value / 2)
    assert adamw.param_groups[0]["lr"] == pytest.approx(r.kind_coupled("embedding").lr / 2)


def test_muon_weight_decay_is_converted_from_its_own_convention():
    rung = _rung(MUON, 128, ["optimizer.muon.wd_convention=independent", "optimizer.muon.weight_decay=1e-4"])
    r = rung.resolved
    h = kind_hyper(r, 2.0)
    q = r.kinds["q"]
    assert h["q"].optimizer == "muon" and h["embedding"].optimizer == "adamw"
    assert h["q"].weight_decay_resolved == pytest.approx(q.weight_decay.value / q.lr.value)  # λ' = η·λ
    assert h["q"].weight_decay == pytest.approx(2.0 * q.weight_decay.value / q.lr.value)
    # the run's timescale is the Muon matrices' (the AdamW hidden class trains nothing here)
    assert rung.tau == pytest.approx(max(1 / (r.kinds[k].lr.value * h[k].weight_decay_resolved) for k in r.muon.kinds))
    assert hidden_timescale(h, class_hyper(r, 2.0)) == pytest.approx(rung.tau / 2.0)


def test_the_planner_counts_muon_newton_schulz():
    rung = _rung(MUON, 256)
    flops = ladder.muon_flops_per_step(rung.resolved)
    s = rung.resolved.shape
    # q and o 256×256, k and v 128×256, gate/up/down 768×256; 5 steps of 4r²c + 2r³ each, one layer
    def ns(r, c):
        return 5 * (4 * r * r * c + 2 * r ** 3)
    assert s.ffn_hidden == 768 and s.kv_heads * s.head_dim == 128
    assert flops == ns(256, 256) * 2 + ns(128, 256) * 2 + ns(256, 768) * 3
    slow = ladder.rung_cost(rung, 256, 2, 16, 10, False, None, 0, 1e10, 0.0, cpu_bf16_flops=1e9)
    fast = ladder.rung_cost(rung, 256, 2, 16, 10, False, None, 0, 1e10, 0.0, cpu_bf16_flops=1e10)
    assert slow.seconds - fast.seconds == pytest.approx(10 * flops * (1e-9 - 1e-10))


# --------------------------------------------------------------------------- end to end, tiny, on CPU


def _verify(recipe, *args):
    return CliRunner().invoke(main, ["verify", str(recipe), "--size", "wide", "--device", "cpu", "--quiet", *args])


def _schema_valid(report):
    import jsonschema

    jsonschema.validate(report, json.loads((ROOT / "schemas" / "verify-report.schema.json").read_text()))


@pytest.mark.slow
def test_muon_example_ladder_end_to_end(tmp_path):
    result = _verify(MUON, "--widths", "32,64", "--depth", "1", "--steps", "12", "--batch", "2", "--seq-len", "16",
                     "--checkpoints", "3", *MUON_TINY, "--out", str(tmp_path))
    # exit 1, inconclusive, whatever σ does: 12 steps with the auto compression put the compressed τ at 12/5
    # steps, under the 20 a steady state needs (verdict.too_short) — fixed by the step count, not by the data
    assert result.exit_code == 1, result.output
    report = json.loads((tmp_path / "verify.json").read_text())
    _schema_valid(report)
    assert report["verdict"] == "inconclusive"
    assert report["reasons"][0].startswith("run too short for its timescale: after the weight-decay compression")
    assert "Muon decays its matrices the same way" in report["compression"]["assumption"]
    for rung in report["rungs"]:
        kh = rung["kind_hyper"]
        assert {k for k, h in kh.items() if h["optimizer"] == "muon"} == {"q", "k", "v", "o", "mlp_in", "mlp_out"}
        assert kh["embedding"]["optimizer"] == kh["output"]["optimizer"] == "adamw"
        assert kh["q"]["adjust_lr"] == "match_rms_adamw" and kh["q"]["momentum"] == 0.95
        assert rung["tau_steps"] == pytest.approx(1 / (kh["q"]["lr"] * kh["q"]["weight_decay"]), rel=1e-9)
        assert all(math.isfinite(v) for _, v in rung["loss_curve"])
    assert {k["kind"] for k in report["kinds"] if k["judged"]} == {"q", "k", "v", "o", "mlp_in", "mlp_out"}
    assert "| q | muon (momentum 0.95, nesterov, 5 NS steps, adjust_lr match_rms_adamw) |" in (
        tmp_path / "verify.md").read_text()


@pytest.mark.slow
def test_moe_example_ladder_end_to_end(tmp_path):
    result = _verify(MOE, "--widths", "64,128", "--depth", "1", "--steps", "12", "--batch", "2", "--seq-len", "16",
                     "--checkpoints", "3", "--out", str(tmp_path))
    assert result.exit_code == 1, result.output  # too short, as above: fixed by the step count
    report = json.loads((tmp_path / "verify.json").read_text())
    _schema_valid(report)
    assert report["verdict"] == "inconclusive"
    assert report["reasons"][0].startswith("run too short for its timescale")
    kinds = {k["kind"]: k for k in report["kinds"]}
    for kind in ("expert_in", "expert_out", "shared_in", "shared_out"):
        assert kinds[kind]["judged"] and kinds[kind]["verdict"] == "inconclusive"
    assert kinds["router"]["verdict"] == "info" and not kinds["router"]["judged"]
    for rung in report["rungs"]:
        assert rung["aux_loss"] is not None and 0 < rung["aux_loss"] < 1  # ≈ coeff 0.01 × E·Σ f·P (≥ 1·coeff)
        assert rung["aux_loss"] >= 0.01 * (1 - 1e-6)
        assert all(h["optimizer"] == "adamw" for h in rung["kind_hyper"].values())
        assert rung["kind_hyper"]["router"]["lr"] != rung["kind_hyper"]["output"]["lr"]  # its own per_kind LR


def _coord(recipe, widths, *extra, tmp_path):
    result = _verify(recipe, "--coord-check", "--widths", widths, "--depth", "1", "--coord-steps", "3",
                     "--coord-seeds", "2", "--batch", "2", "--seq-len", "16", *extra, "--out", str(tmp_path))
    return result, json.loads((tmp_path / "coord.json").read_text())


@pytest.mark.slow
def test_moe_example_coord_check_covers_the_expert_and_router_kinds(tmp_path):
    result, coord = _coord(MOE, "64,128,256,512", tmp_path=tmp_path)
    kinds = {k["kind"]: k for k in coord["kinds"]}
    assert {"expert_in", "expert_out", "shared_in", "shared_out", "router"} <= set(kinds)
    assert not {"mlp_in", "mlp_out"} & set(kinds)
    for kind in ("expert_in", "expert_out", "router"):
        assert {"activation", "update"} <= set(kinds[kind]["series"])
    # observed: inconclusive (exit 1). Three steps of two seeds leave wide intervals: expert_out's ΔW·x slope at
    # step 2 was -0.46 [-0.78, -0.13] — outside ±0.25 with the interval reaching into it, 0.12 from either
    # edge, far more than a float32 rounding (1 or 2 threads) moves it; fixed seeds, data and widths.
    # The router's logits vanish at init (slope -0.50, allowed: one-sided, like the readout's) and pass.
    assert coord["verdict"] == "inconclusive" and result.exit_code == 1, result.output
    assert kinds["expert_out"]["verdict"] == "inconclusive" and kinds["router"]["verdict"] == "pass"
    assert kinds["router"]["series"]["activation"][0]["slope"] < -0.25


@pytest.mark.slow
def test_muon_example_coord_check(tmp_path):
    result, coord = _coord(MUON, "32,64,96,128", *MUON_TINY, tmp_path=tmp_path)
    kinds = {k["kind"]: k for k in coord["kinds"]}
    assert {"q", "k", "v", "o", "mlp_in", "mlp_out", "output", "attn_logits"} <= set(kinds)
    # observed: inconclusive (exit 1), every Muon kind passing: the readout's ΔW·x interval at step 2 was
    # ±0.66, wider than the ±0.6 that decides anything (two seeds, four widths): a margin no rounding moves
    assert coord["verdict"] == "inconclusive" and result.exit_code == 1, result.output
    assert all(kinds[k]["verdict"] == "pass" for k in ("q", "k", "v", "o", "mlp_in", "mlp_out"))
    assert kinds["output"]["verdict"] == "inconclusive"


def test_a_user_model_gets_muon_groups_for_the_muon_kinds():
    from recipec.verify.factory import ModelSource, load_factory

    rung = _rung(MUON, 64, [s for s in MUON_TINY if s != "--set"])
    r = rung.resolved
    cfg = model_config(r, 256, 16)
    source = ModelSource(load_factory(str(ROOT / "examples" / "models" / "gpt.py") + ":build"), "gpt")
    built = source.build(r, cfg, class_hyper(r, 2.0), 2.0, torch.device("cpu"))
    groups = {g["name"]: g for g in built.groups}
    expected = kind_hyper(r, 2.0)
    for name, g in groups.items():
        h = expected[name]
        assert g["optimizer"] == h.optimizer and g["lr"] == pytest.approx(h.lr)
        assert g["weight_decay"] == pytest.approx(h.weight_decay)
    assert {n for n, g in groups.items() if g["optimizer"] == "muon"} == {"q", "o", "mlp_in", "mlp_out"}  # fused qkv: q
    assert [type(o).__name__ for o in Optimizers(built.groups, torch.device("cpu")).parts] == ["AdamW", "Muon"]
