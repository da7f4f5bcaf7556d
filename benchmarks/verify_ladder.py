"""Run `recipec verify` on one recipe under several width rule sets and print the σ tables side by side.

The issue's GPU experiment (on an H100/H200):

    python benchmarks/verify_ladder.py examples/llama-proxy.yaml --size 8b --widths 256,512,1024,2048 --depth 4

A CPU-sized version of the same experiment (minutes on 2 cores):

    python benchmarks/verify_ladder.py tests/data/tiny.yaml --size big --widths 32,64,128,256 --depth 2 \\
        --steps 300 --device cpu

For each rule set in --rulesets (default: mup-adamw, mup-megatron, fan2025) the recipe's `transfer:` list is
replaced (`--set transfer=[NAME, …]`, keeping any non-width rule sets given with --keep) and verify runs with
the same seed, data and steps. Prints each verdict and table and writes every report under --out.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recipe")
    ap.add_argument("--size", required=True)
    ap.add_argument("--widths", required=True)
    ap.add_argument("--depth", default="4")
    ap.add_argument("--steps", default=None)
    ap.add_argument("--device", default=None)
    ap.add_argument("--batch", default=None)
    ap.add_argument("--seq-len", default=None)
    ap.add_argument("--rulesets", default="mup-adamw,mup-megatron,fan2025")
    ap.add_argument("--keep", default="", help="rule sets kept beside each width rule set, comma-separated")
    ap.add_argument("--out", default="verify-bench")
    args = ap.parse_args()
    summary = {}
    for name in args.rulesets.split(","):
        transfer = [name] + [k for k in args.keep.split(",") if k]
        out = Path(args.out) / name
        cmd = [sys.executable, "-m", "recipec", "verify", args.recipe, "--size", args.size, "--widths", args.widths,
               "--depth", args.depth, "--set", f"transfer=[{', '.join(transfer)}]", "--out", str(out), "--quiet"]
        for flag, value in (("--steps", args.steps), ("--device", args.device), ("--batch", args.batch),
                            ("--seq-len", args.seq_len)):
            if value is not None:
                cmd += [flag, value]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        elapsed = time.perf_counter() - t0
        print(f"=== {name} (exit {proc.returncode}, {elapsed:.0f} s)")
        print(proc.stdout, end="")
        if proc.returncode == 2:
            print(proc.stderr, end="")
            continue
        report = json.loads((out / "verify.json").read_text())
        summary[name] = {k["kind"]: {"ratio": k["ratio"], "slope": k["slope"], "verdict": k["verdict"]}
                         for k in report["kinds"]}
        summary[name]["verdict"] = report["verdict"]
        summary[name]["seconds"] = round(elapsed, 1)
    print("=== summary (mean |slope| over judged kinds)")
    for name, s in summary.items():
        slopes = [abs(v["slope"]) for k, v in s.items() if isinstance(v, dict) and k not in ("embedding", "output")]
        print(f"{name:<14} verdict {s['verdict']:<13} mean |slope| {sum(slopes) / max(1, len(slopes)):.3f}")


if __name__ == "__main__":
    main()
