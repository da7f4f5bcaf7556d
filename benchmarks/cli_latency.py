"""Wall time of `recipec compile` and `recipec explain` on the shipped example, beside `yamllint` on the
same file, measured in one run (interleaved, medians) so that machine noise hits all three alike.

    python benchmarks/cli_latency.py [--repeat 15] [--recipe examples/llama-proxy.yaml] [--size 8b]

Prints a table and the ratio to yamllint (goal: <= 1.5x). Exit 0 always: this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    elapsed = time.perf_counter() - t0
    if proc.returncode not in (0, 1):  # yamllint exits 1 when it has findings
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.decode()[:500]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--recipe", default="examples/llama-proxy.yaml")
    ap.add_argument("--size", default="8b")
    args = ap.parse_args()
    recipec = shutil.which("recipec") or sys.exit("recipec is not on PATH (pip install -e .)")
    yamllint = shutil.which("yamllint") or sys.exit("yamllint is not on PATH (pip install -e '.[dev]')")
    out = tempfile.mkdtemp(prefix="recipec-bench-")
    commands = {
        "yamllint": [yamllint, args.recipe],
        "recipec explain": [recipec, "explain", args.recipe, "--size", args.size],
        "recipec compile": [recipec, "compile", args.recipe, "--size", args.size, "--out", out],
        "python -c pass": [sys.executable, "-c", "pass"],
    }
    for cmd in commands.values():  # warm the page cache
        timed(cmd)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeat):
        for name, cmd in commands.items():
            samples[name].append(timed(cmd))
    base = statistics.median(samples["yamllint"])
    print(f"{'command':<18} {'median s':>9} {'min s':>7} {'x yamllint':>10}")
    for name, values in samples.items():
        med = statistics.median(values)
        print(f"{name:<18} {med:>9.3f} {min(values):>7.3f} {med / base:>10.2f}")
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
