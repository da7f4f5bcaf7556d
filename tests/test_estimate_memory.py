"""`recipec estimate`'s memory against the measured peak of real CPU training steps (issue 6: within 15%).

One case per regime of the peak: kept activations, the loss's logits, and the optimizer step. Each runs in
a fresh process (`python -m recipec.verify.memory`) so that the resident-set peak is its own.
"""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("torch")
if not sys.platform.startswith("linux"):
    pytest.skip("the measurement reads /proc", allow_module_level=True)

from recipec.verify.memory import run_case  # noqa: E402
from tests.conftest import LLAMA, ROOT  # noqa: E402

TINY = ROOT / "tests" / "data" / "tiny.yaml"


def _llama(width, depth, ffn, vocab, seq):
    return ["precision=fp32", f"model.seq_len={seq}", f"model.vocab_size={vocab}", f"sizes.1b.model.width={width}",
            f"sizes.1b.model.depth={depth}", f"sizes.1b.model.ffn_hidden={ffn}", "sizes.1b.model.kv_heads=2"]


CASES = {
    "activations": (TINY, "big", 8, ["precision=fp32", "model.seq_len=512"], "start of backward"),
    "logits": (LLAMA, "1b", 8, _llama(256, 2, 768, 4096, 512), "start of backward"),
    "optimizer": (LLAMA, "1b", 1, _llama(1024, 2, 2816, 32000, 128), "optimizer step"),
}


@pytest.mark.slow  # each case trains real CPU steps in a subprocess to measure its peak
@pytest.mark.parametrize("case", sorted(CASES))
def test_estimate_is_within_15_percent_of_a_measured_cpu_peak(case):
    recipe, size, mb, sets, peak_at = CASES[case]
    r = run_case(recipe, size, mb, sets, cwd=ROOT, timeout=300)
    assert r["params"] == r["estimate_params"]  # the estimator counts the reference model's parameters exactly
    assert r["peak_at"] == peak_at
    assert r["measured_bytes"] > 0.5 * r["estimate_bytes"]  # the measurement saw the training, not just overhead
    assert abs(r["ratio"] - 1) <= 0.15, r
