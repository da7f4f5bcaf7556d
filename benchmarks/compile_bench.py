"""Wall time of `recipec compile` (8B example, every target, one launcher) beside `yamllint` on the same file.

    python benchmarks/compile_bench.py [--runs 15] [--launcher torchrun]

Both run as fresh processes from this Python environment (``python -m recipec`` / ``python -m
yamllint``), alternating, so machine noise hits both; the report gives medians and their ratio
(goal: ≤ 1.5× yamllint).
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
RECIPE = ROOT / "examples" / "llama-proxy.yaml"
TARGETS = ("torchtitan", "megatron", "hf", "neutral")


def _time(cmd: list[str]) -> float:
    t = time.perf_counter()
    rc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    elapsed = time.perf_counter() - t
    if rc not in (0, 1):  # 1: yamllint found style problems in the example; still a full run
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {rc}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--launcher", default="torchrun", choices=("torchrun", "slurm", "k8s"))
    opts = ap.parse_args(argv)
    out = Path(tempfile.mkdtemp(prefix="recipec-bench-"))
    compile_cmd = [sys.executable, "-m", "recipec", "compile", str(RECIPE), "--size", "8b",
                   "--launcher", opts.launcher, "--out", str(out)]
    for t in TARGETS:
        compile_cmd += ["--target", t]
    yamllint_cmd = [sys.executable, "-m", "yamllint", str(RECIPE)]
    check_cmd = compile_cmd + ["--check"]
    # The same compile without targets (resolved.json only): the difference is render's own cost.
    resolve_cmd = [sys.executable, "-m", "recipec", "compile", str(RECIPE), "--size", "8b", "--out", str(out / "r")]
    try:
        for cmd in (compile_cmd, yamllint_cmd):  # warm the file cache and .pyc files
            _time(cmd)
        times: dict[str, list[float]] = {"recipec compile": [], "recipec compile --check": [],
                                         "  (no targets)": [], "yamllint": []}
        for _ in range(opts.runs):
            times["recipec compile"].append(_time(compile_cmd))
            times["recipec compile --check"].append(_time(check_cmd))
            times["  (no targets)"].append(_time(resolve_cmd))
            times["yamllint"].append(_time(yamllint_cmd))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    base = statistics.median(times["yamllint"])
    print(f"{RECIPE.relative_to(ROOT)} --size 8b, targets {', '.join(TARGETS)}, launcher {opts.launcher}; "
          f"{opts.runs} runs each, python {sys.version.split()[0]}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"  {name:<24} median {med * 1000:7.1f} ms  (min {min(ts) * 1000:6.1f}, max {max(ts) * 1000:6.1f})"
              f"  {med / base:4.2f}× yamllint")
    render_ms = (statistics.median(times["recipec compile"]) - statistics.median(times["  (no targets)"])) * 1000
    print(f"  render's own share (all targets + launcher − no targets): {render_ms:.1f} ms = "
          f"{render_ms / 1000 / base:.2f}× yamllint")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
