"""Top-σ estimator against torch.linalg.matrix_norm(ord=2) (a full SVD) on n×n matrices, CPU and GPU.

    python benchmarks/sigma_bench.py [--n 4096] [--repeat 3] [--device cpu|cuda|all]

Two matrices: i.i.d. Gaussian (no spectral gap at the top — the estimator's worst case) and the same
plus a rank-4 spike (trained weights look like this: a few directions stand out). Goal: ≥ 20× faster
at ≤ 1% relative error.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from recipec.verify.sigma import top_singular_value


def _time(fn, device: str, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--device", default="all")
    args = ap.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else []) if args.device == "all" else [args.device]
    gen = torch.Generator().manual_seed(0)
    n = args.n
    gauss = torch.randn(n, n, generator=gen) / n ** 0.5
    spike = gauss + 3.0 * torch.randn(n, 4, generator=gen) @ torch.randn(4, n, generator=gen) / n
    print(f"{'device':<6} {'matrix':<9} {'full SVD s':>10} {'estimator s':>11} {'speed-up':>9} "
          f"{'rel err':>9} {'iters':>6}")
    for device in devices:
        for label, w in (("gaussian", gauss), ("spiked", spike)):
            w = w.to(device)
            top_singular_value(w)  # warm-up (kernels, allocator)
            t_ref, ref = _time(lambda w=w: float(torch.linalg.matrix_norm(w, ord=2)), device, args.repeat)
            t_est, res = _time(lambda w=w: top_singular_value(w), device, args.repeat)
            err = abs(res.sigma - ref) / ref
            print(f"{device:<6} {label:<9} {t_ref:>10.3f} {t_est:>11.4f} {t_ref / t_est:>8.1f}x {err:>9.2e} "
                  f"{res.iterations:>6}")


if __name__ == "__main__":
    main()
