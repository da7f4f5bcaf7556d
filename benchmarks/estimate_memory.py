"""`recipec estimate`'s memory per GPU against the measured peak of real training steps on this CPU.

    python benchmarks/estimate_memory.py

Each case runs `python -m recipec.verify.memory` in a fresh process (a clean resident-set peak): the verify
reference model in float32, trained for two steps at the case's size, against `recipec.estimate` for one
device, no sharding, eager kernels. The cases cover the three regimes of the peak: activations, the loss's
logits, and the optimizer step (parameters, gradients, AdamW states and the step's temporaries).
Goal (issue 6): within 15%.
"""

from __future__ import annotations

from recipec.verify.memory import run_case

LLAMA = "examples/llama-proxy.yaml"
TINY = "tests/data/tiny.yaml"
FP32 = ["precision=fp32"]


def llama(width, depth, ffn, vocab, seq):
    return FP32 + [f"model.seq_len={seq}", f"model.vocab_size={vocab}", f"sizes.1b.model.width={width}",
                   f"sizes.1b.model.depth={depth}", f"sizes.1b.model.ffn_hidden={ffn}", "sizes.1b.model.kv_heads=2"]


CASES = [  # (label, recipe, size, micro batch, --set)
    ("tiny w256 d2, activations", TINY, "big", 8, FP32 + ["model.seq_len=512"]),
    ("tiny w256 d2, small batch", TINY, "big", 2, FP32 + ["model.seq_len=512"]),
    ("tiny w256 d4", TINY, "big", 16, FP32 + ["model.seq_len=256", "model.depth=4"]),
    ("tiny w256 d2, no qk-norm", TINY, "big", 4, FP32 + ["model.seq_len=256", "model.qk_norm=false"]),
    ("llama w256 d2, V 4096: logits", LLAMA, "1b", 8, llama(256, 2, 768, 4096, 512)),
    ("llama w512 d4, V 8192", LLAMA, "1b", 2, llama(512, 4, 1536, 8192, 256)),
    ("llama w1024 d2, V 32000: optimizer", LLAMA, "1b", 1, llama(1024, 2, 2816, 32000, 128)),
    ("llama w1024 d4, V 512", LLAMA, "1b", 1, llama(1024, 4, 2816, 512, 128)),
]


def main() -> None:
    mib = 2**20
    print(f"{'case':<36} {'params':>11} {'measured MiB':>13} {'estimate MiB':>13} {'est/meas':>9}  peak at")
    worst = 0.0
    for label, recipe, size, mb, sets in CASES:
        r = run_case(recipe, size, mb, sets)
        worst = max(worst, abs(r["ratio"] - 1))
        print(f"{label:<36} {r['params']:>11,} {r['measured_bytes'] / mib:>13.1f} {r['estimate_bytes'] / mib:>13.1f} "
              f"{r['ratio']:>9.3f}  {r['peak_at']}")
    print(f"largest deviation {worst:.1%} (goal: within 15%)")


if __name__ == "__main__":
    main()
