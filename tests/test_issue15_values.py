"""Issue 15: the Muon and MoE examples' target values, computed by hand from the formulas (not from the code).

Muon (examples/muon-proxy.yaml, adjust_lr match_rms_adamw, size 'wide', width 256 → 1024):
  torch.optim.Muon scales each update by s = 0.2·√max(A, B) (A rows = fan-out, B cols = fan-in); the
  spectral condition wants η·s ∝ √(fan_out/fan_in), so η ∝ g = √(A/B) / (0.2·√max(A, B)).
  proxy: d 256, heads 4 × 64, kv 2, ffn round_up(2.6667·256, 128) = 768
  wide:  d 1024, heads 16 × 64, kv 8, ffn round_up(2.6667·1024, 128) = 2816
  q (1024×1024 from 256×256): g ∝ 1/(0.2√d) → ratio √(256/1024) = 0.5  → lr 3e-3·0.5 = 1.5e-3, wd 0.1/0.5 = 0.2
  k (kv·64 × d: 128×256 → 512×1024): g = √A/(0.2·B) → √4 · 1/4 = 0.5
  mlp_in (f × d): A > B → g = 1/(0.2√d) → 0.5
  mlp_out (d × f): g = √d/(0.2·f) → √4 · 768/2816 = 0.545454… → lr 1.636364e-3, wd 0.183333…
  init (fan2025, 1/√fan_in): q 0.02/√4 = 0.01; mlp_out 0.02/√(2816/768) = 0.0104447
  adjust_lr original (s = √max(1, A/B)): q, k, mlp_in keep 3e-3; mlp_out (A < B, s = 1, g = √(d/f)):
  √((1024/2816)/(256/768)) = 1.0444659 → 3.1333978e-3.
MoE (examples/moe-proxy.yaml, mup-adamw + completep + adamw-timescale + mup-moe, size 'xl', width 256 → 2048,
expert ffn 384 → 2048, run 1,048,576,000 → 24,336,138,240 tokens, t = 23.2088, batch and depth unchanged):
  expert_in (fan-in d, ratio 8): lr 3e-3/8, wd 0.1·8/t (mup-adamw λ ∝ fan_in, adamw-timescale λ ∝ 1/t), init 0.02/√8
  expert_out (fan-in expert ffn, ratio 2048/384 = 5.3333): lr 3e-3/5.3333 = 5.625e-4, wd 0.1·5.3333/t, init 0.02/√5.3333
  router (readout-like, TP5 Table 3): lr 1e-3 (per_kind) / 8 = 1.25e-4, init 0.02/8 = 0.0025, wd 0 (per_class output)
  parameters: attention 4·2048² per block, experts 3·2048·2048 each (8 routed + 1 shared), router 2048·8;
  total 651,250,176, active (top-2 + shared) 349,260,288.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from recipec.load import load_recipe
from recipec.transfer import resolve

ROOT = Path(__file__).resolve().parent.parent


def _resolve(name: str, size: str, sets: list[str] | None = None):
    loaded = load_recipe(ROOT / "examples" / name, sets=sets)
    return resolve(loaded.recipe, size, file=str(name))


def _kind(res, kind: str, hp: str) -> float:
    own = getattr(res.kinds[kind], hp)
    return (own if own is not None else getattr(res.classes[res.kinds[kind].cls], hp)).value


@pytest.mark.parametrize("kind, lr, wd", [
    ("q", 1.5e-3, 0.2), ("k", 1.5e-3, 0.2), ("v", 1.5e-3, 0.2), ("o", 1.5e-3, 0.2), ("mlp_in", 1.5e-3, 0.2),
    ("mlp_out", 3e-3 * 2 * 768 / 2816, 0.1 / (2 * 768 / 2816)),
])
def test_muon_match_rms_wide(kind, lr, wd):
    res = _resolve("muon-proxy.yaml", "wide")
    assert res.kinds[kind].optimizer == "muon"
    assert _kind(res, kind, "lr") == pytest.approx(lr, rel=1e-12)
    assert _kind(res, kind, "weight_decay") == pytest.approx(wd, rel=1e-12)


def test_muon_rest_is_adamw_and_init_by_fan_in():
    res = _resolve("muon-proxy.yaml", "wide")
    assert res.muon is not None and res.muon.adjust_lr == "match_rms_adamw"
    assert set(res.muon.kinds) == {"q", "k", "v", "o", "mlp_in", "mlp_out"}
    for kind in ("embedding", "output", "norm", "final_norm"):
        assert res.kinds[kind].optimizer is None
        assert _kind(res, kind, "lr") == pytest.approx(4e-3)
        assert _kind(res, kind, "weight_decay") == 0
    assert _kind(res, "q", "init_std") == pytest.approx(0.01)
    assert _kind(res, "mlp_out", "init_std") == pytest.approx(0.02 / math.sqrt(2816 / 768))
    assert res.multipliers.output_multiplier.value == pytest.approx(0.25)
    assert "hidden.lr" not in res.values()  # no parameter trains with the AdamW hidden LR
    assert res.values()["mlp_out.lr"].chain[-1].dim == "spectral"


def test_muon_original_adjust():
    res = _resolve("muon-proxy.yaml", "wide", sets=["optimizer.muon.adjust_lr=original"])
    for kind in ("q", "k", "v", "o", "mlp_in"):
        assert _kind(res, kind, "lr") == pytest.approx(3e-3, rel=1e-12)
    assert _kind(res, "mlp_out", "lr") == pytest.approx(3e-3 * math.sqrt((1024 / 2816) / (256 / 768)), rel=1e-12)
    assert _kind(res, "mlp_out", "lr") == pytest.approx(3.1333978e-3, rel=1e-7)


def test_moe_xl_values():
    res = _resolve("moe-proxy.yaml", "xl")
    t = 24_336_138_240 / 1_048_576_000
    assert _kind(res, "expert_in", "lr") == pytest.approx(3e-3 / 8)
    assert _kind(res, "expert_in", "weight_decay") == pytest.approx(0.1 * 8 / t)
    assert _kind(res, "expert_in", "init_std") == pytest.approx(0.02 / math.sqrt(8))
    r = 2048 / 384
    for kind in ("expert_out", "shared_out"):
        assert _kind(res, kind, "lr") == pytest.approx(3e-3 / r)
        assert _kind(res, kind, "lr") == pytest.approx(5.625e-4)
        assert _kind(res, kind, "weight_decay") == pytest.approx(0.1 * r / t)
        assert _kind(res, kind, "init_std") == pytest.approx(0.02 / math.sqrt(r))
    assert res.kinds["router"].cls == "output"
    assert _kind(res, "router", "lr") == pytest.approx(1.25e-4)
    assert _kind(res, "router", "init_std") == pytest.approx(0.0025)
    assert _kind(res, "router", "weight_decay") == 0
    assert res.derived.total_params == 651_250_176
    assert res.derived.active_params == 349_260_288
    assert "mlp_in" not in res.kinds and "mlp_out" not in res.kinds


def test_moe_wide_expert_keeps_ratio_to_width():
    res = _resolve("moe-proxy.yaml", "wide")
    assert res.shape.expert_ffn_hidden == 384 * 4
    assert _kind(res, "expert_out", "lr") == pytest.approx(3e-3 / 4)
    assert res.ratios["experts"] == 1 and res.ratios["top_k"] == 1
