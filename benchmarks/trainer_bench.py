"""Throughput of the verify reference trainer: tokens/s and model-FLOPs utilisation of one rung.

    python benchmarks/trainer_bench.py [--recipe examples/llama-proxy.yaml] [--size 8b] [--width 2048[,4096]]
        [--depth 4] [--batch 32] [--seq-len 512] [--steps 60] [--device cuda|cpu] [--compile off|on|both]

Builds the rung exactly as `recipec verify` does (the recipe resolved at that width through the rule
engine), trains it on the built-in corpus and prints tokens/s, the model FLOPs per token (6·N_matmul +
attention) and MFU against the GPU's dense bf16 peak (none on CPU). The first checkpoint's steps warm
up kernels and are excluded by the trainer's timing, which counts only steps between checkpoints.
"""

from __future__ import annotations

import argparse

import torch

from recipec.load import load_recipe
from recipec.verify import ladder
from recipec.verify.data import builtin_corpus
from recipec.verify.spec import model_config
from recipec.verify.train import RunSettings, flops_per_token, train_rung


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="examples/llama-proxy.yaml")
    ap.add_argument("--size", default="8b")
    ap.add_argument("--width", default="2048", help="one width or several, comma-separated")
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--compile", choices=("off", "on", "both"), default="off",
                    help="torch.compile the model (verify --compile); 'both' measures eager and compiled")
    args = ap.parse_args()
    modes = {"off": [False], "on": [True], "both": [False, True]}[args.compile]
    for width in (int(w) for w in args.width.split(",")):
        for compiled in modes:
            bench(args, width, compiled)


def bench(args, width: int, compiled: bool) -> None:
    loaded = load_recipe(args.recipe)
    rung = ladder.plan(loaded, args.size, [width], args.depth)[0]
    corpus = builtin_corpus(args.steps * args.batch * (args.seq_len + 1) + args.seq_len + 2,
                            min_tokens=args.seq_len + 2)
    # two checkpoints: the first segment warms up, the second is timed
    settings = RunSettings(steps=args.steps, warmup_steps=5, batch=args.batch, seq_len=args.seq_len,
                           checkpoints=[args.steps // 3, args.steps], device=args.device, compression=1.0, seed=0,
                           vocab_size=corpus.vocab_size, progress=False,
                           compile=compiled)
    report = train_rung(rung, settings, corpus, "bench")
    cfg = model_config(rung.resolved, corpus.vocab_size, args.seq_len, rung.moe)
    name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(f"device {name}; width {width}, depth {args.depth}, {report.params:,} params; "
          f"batch {args.batch} × {args.seq_len}; {'torch.compile' if compiled else 'eager'}")
    print(f"tokens/s {report.tokens_per_second:,.0f}; model FLOPs/token {flops_per_token(cfg):.3e}; "
          f"MFU {'n/a (no GPU peak)' if report.mfu is None else f'{report.mfu:.1%}'}; "
          f"final loss {report.final_loss:.3f}")


if __name__ == "__main__":
    main()
