"""The coord check on the example models: the correct one passes, each broken one fails on its kind.

    python benchmarks/coord_check_bench.py [--depth 2] [--device cpu] [--out coord-bench]

Runs `recipec verify examples/models/gpt-recipe.yaml --size big --coord-check --model <file>:build` for
examples/models/gpt.py and the three broken variants (four widths 32-256, head_dim 16-128, the CLI's
defaults: 10 steps, 3 seeds, 4 × 32 tokens), each in its own process, and prints a table: the verdict,
the kinds that fail first, every failing kind, the coord check's own time and the process's wall time
(imports, the CPU probe and the PNG included). A benchmark, not a test: tests/verify/test_model_and_coord.py
asserts the verdicts.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = {
    "gpt": "correct muP",
    "gpt_no_readout_multiplier": "readout multiplier not applied",
    "gpt_init_over_m": "hidden init ÷ m instead of ÷ √m",
    "gpt_attn_sqrt_scale": "attention 1/√head_dim kept under muP",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depth", default="2")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default="coord-bench")
    ap.add_argument("--extra", default="", help="more verify options, space-separated")
    args = ap.parse_args()
    rows = []
    for name, what in MODELS.items():
        out = Path(args.out) / name
        cmd = [sys.executable, "-m", "recipec", "verify", str(ROOT / "examples/models/gpt-recipe.yaml"),
               "--size", "big", "--device", args.device, "--coord-check", "--depth", args.depth, "--quiet",
               "--model", f"{ROOT / 'examples/models' / name}.py:build", "--out", str(out), *args.extra.split()]
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - started
        report = json.loads((out / "coord.json").read_text())
        failing = [k["kind"] for k in report["kinds"] if k["verdict"] == "fail"]
        rows.append((name, what, report["verdict"], proc.returncode, ", ".join(report["first_failing"]) or "-",
                     ", ".join(failing) or "-", report["seconds"], wall))
        print(proc.stdout, file=sys.stderr)
    print("| model | what | verdict (exit) | fails first | failing kinds | coord check s | wall s |")
    print("|---|---|---|---|---|---|---|")
    for name, what, verdict, rc, first, failing, seconds, wall in rows:
        print(f"| {name}.py | {what} | {verdict} ({rc}) | {first} | {failing} | {seconds:.1f} | {wall:.1f} |")


if __name__ == "__main__":
    main()
