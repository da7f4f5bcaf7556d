"""`verify --model` on the example GPT beside the built-in reference model, on one recipe and ladder, and
the planner's time estimate against the measured time of every rung.

    python benchmarks/verify_model_bench.py [--widths 32,64,128,256] [--depth 2] [--steps 200] [--device cpu]

Runs the same ladder twice (the reference LLaMA-style model, then examples/models/gpt.py:build) on
examples/models/gpt-recipe.yaml, prints each verdict and σ table, then one table per run: per rung the
plan's estimate (printed before training), the re-estimate from the rung's first timed steps, the
measured seconds and their ratio.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default=str(ROOT / "examples/models/gpt-recipe.yaml"))
    ap.add_argument("--size", default="big")
    ap.add_argument("--widths", default="32,64,128,256")
    ap.add_argument("--depth", default="2")
    ap.add_argument("--steps", default="200")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--budget", default="20")
    ap.add_argument("--out", default="verify-model-bench")
    args = ap.parse_args()
    runs = {"reference": None, "gpt.py": f"{ROOT / 'examples/models/gpt.py'}:build"}
    tables = []
    for label, model in runs.items():
        out = Path(args.out) / label.replace(".py", "")
        cmd = [sys.executable, "-m", "recipec", "verify", args.recipe, "--size", args.size, "--widths", args.widths,
               "--depth", args.depth, "--steps", args.steps, "--device", args.device, "--budget", args.budget,
               "--out", str(out), "--quiet"] + (["--model", model] if model else [])
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - started
        print(f"## {label}: exit {proc.returncode}, {wall:.0f} s\n{proc.stdout}{proc.stderr[-2000:]}")
        report = json.loads((out / "verify.json").read_text())
        tables.append((label, report))
    for label, report in tables:
        print(f"\n{label}: verdict {report['verdict']}; " + "; ".join(report["reasons"][:2]))
        print("| width | plan s | re-estimate s | measured s | measured / plan |")
        print("|---|---|---|---|---|")
        for r in report["rungs"]:
            again = r.get("time_reestimate_seconds")
            print(f"| {r['width']} | {r['time_estimate_seconds']:.1f} | {again:.1f} | {r['seconds']:.1f} | "
                  f"{r['seconds'] / r['time_estimate_seconds']:.2f} |" if again is not None else
                  f"| {r['width']} | {r['time_estimate_seconds']:.1f} | - | {r['seconds']:.1f} | "
                  f"{r['seconds'] / r['time_estimate_seconds']:.2f} |")


if __name__ == "__main__":
    main()
