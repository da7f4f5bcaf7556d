"""Compile every size of the shipped examples and of tests/data/distinct.yaml for all four targets, then run
``recipec inspect`` on each output (full size on the meta device, and ``--shrink`` for the init std), as a
user would from the command line. Prints one line per run: exit code, parameters checked, wall time.

Each target is compiled on its own. A target that refuses a recipe because it cannot express it (a gap
of ``recipec.frameworks.gaps``: compile exits 2 with "is NOT applied") is printed as ``gap`` with the
reason and not counted as a failure (issue 15: muon-proxy and moe-proxy on every target that can
express them; the rest are listed gaps).

    python benchmarks/inspect_all.py [--shrink-only] [--targets torchtitan,megatron,hf,neutral]

Exit 0 when every run exited 0. A measurement and a smoke check, not a test (tests/test_inspect.py is).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = [("examples/llama-proxy.yaml", s) for s in ("1b", "8b", "70b")] + \
    [("examples/completep-depth.yaml", s) for s in ("wide-deep", "xl")] + \
    [("tests/data/distinct.yaml", s) for s in (None, "wide", "vocab-width")] + \
    [("examples/muon-proxy.yaml", s) for s in (None, "wide", "xl")] + \
    [("examples/moe-proxy.yaml", s) for s in (None, "wide", "xl")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", default="torchtitan,megatron,hf,neutral")
    ap.add_argument("--shrink-only", action="store_true")
    args = ap.parse_args()
    targets = args.targets.split(",")
    recipec = [sys.executable, "-m", "recipec"]
    failures = gaps = 0
    with tempfile.TemporaryDirectory() as tmp:
        for recipe, size in CASES:
            out = Path(tmp) / f"{Path(recipe).stem}-{size or 'proxy'}"
            expressed = []
            for t in targets:
                cmd = recipec + ["compile", recipe, "-o", str(out), "--target", t] + (["--size", size] if size else [])
                c = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
                if c.returncode == 0:
                    expressed.append(t)
                elif c.returncode == 2 and f"{t} target:" in c.stderr:  # the target refuses what it cannot express
                    gaps += 1
                    print(f"{recipe:<32} {size or 'proxy':<12} {t:<11} gap    {c.stderr.strip().splitlines()[-1]}",
                          flush=True)
                else:
                    failures += 1
                    print(f"{recipe:<32} {size or 'proxy':<12} {t:<11} compile exit {c.returncode}: "
                          f"{(c.stderr.strip().splitlines() or [''])[-1]}", flush=True)
            for shrink in ([True] if args.shrink_only else [False, True]):
                for t in expressed:
                    t0 = time.perf_counter()
                    p = subprocess.run(recipec + ["inspect", str(out), "--target", t, "--format", "json"]
                                       + (["--shrink"] if shrink else []), cwd=ROOT, capture_output=True, text=True)
                    wall = time.perf_counter() - t0
                    rows = diffs = "-"
                    if p.stdout.strip():
                        (rep,) = json.loads(p.stdout)
                        rows, diffs = len(rep["rows"]), len(rep["differences"])
                    failures += p.returncode != 0
                    print(f"{recipe:<32} {size or 'proxy':<12} {t:<11} {'shrink' if shrink else 'meta':<6} "
                          f"exit {p.returncode}  {rows:>4} params  {diffs} differences  {wall:5.1f} s", flush=True)
                    if p.returncode not in (0, 1):
                        print("   ", p.stderr.strip().splitlines()[-1] if p.stderr.strip() else "", flush=True)
    print(f"{gaps} target/recipe pairs refused as gaps")
    print(f"{failures} runs did not exit 0")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
