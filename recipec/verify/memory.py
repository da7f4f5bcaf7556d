"""Measure the peak memory of real training steps on a CPU, to check ``recipec estimate`` against.

    python -m recipec.verify.memory RECIPE --size NAME --micro-batch B [--set KEY=VALUE ...]

Trains the verify reference model (the recipe resolved at that size; float32, PyTorch's CPU kernels, a
multi-tensor AdamW over recipec's per-class parameter groups, ``zero_grad(set_to_none=True)``) for a few
steps of ``B × seq_len`` random tokens and prints one JSON object: the measured peak and
``recipec.estimate`` for one GPU, no sharding, ``eager`` kernels and the recipe's precision (set
``precision=fp32`` to match a CPU run), term by term.

How the peak is measured: the resident set of the process (``ru_maxrss``) above its size before the
model was built, less what the first tiny steps added that is not a tensor (kernel libraries and
thread pools load lazily). glibc is told to serve every allocation over 64 KiB by ``mmap``
(``MALLOC_MMAP_THRESHOLD_``), so freed tensors leave the resident set at once; the module re-executes
itself with that setting when it is missing. Linux only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys

MMAP_ENV = "MALLOC_MMAP_THRESHOLD_"


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(recipe: str, size: str, micro_batch: int, sets: list[str], steps: int = 2) -> dict:
    import torch
    import torch.nn.functional as F

    from recipec.estimate import estimate
    from recipec.load import load_recipe
    from recipec.transfer import resolve_loaded
    from recipec.verify.model import Decoder, logits_and_aux
    from recipec.verify.spec import model_config
    from recipec.verify.train import Optimizers, class_hyper, param_groups

    loaded = load_recipe(recipe, sets=sets)
    resolved = resolve_loaded(loaded, size)
    seq = resolved.shape.seq_len
    cfg = model_config(resolved, resolved.shape.vocab_size, seq, loaded.recipe.model.moe)
    torch.manual_seed(0)
    before = _rss()
    model = Decoder(cfg)
    optimizer = Optimizers(param_groups(model, class_hyper(resolved, 1.0), resolved.optimizer.betas, resolved, 1.0),
                           torch.device("cpu"))

    def step(batch: int, length: int) -> None:
        tokens = torch.randint(0, cfg.vocab_size, (batch, length + 1))
        optimizer.zero_grad(set_to_none=True)
        logits, aux = logits_and_aux(model, model, tokens[:, :-1])
        logits = logits.float()
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))
        if aux is not None:
            loss = loss + aux
        del logits
        loss.backward()
        optimizer.step()

    for _ in range(2):  # load the kernels and fill the optimizer states at a negligible size
        step(1, min(16, seq))
    optimizer.zero_grad(set_to_none=True)
    n = sum(p.numel() for p in model.parameters())
    tensors = 12 * n  # weights and the two AdamW moments, float32
    overhead = _rss() - before - tensors
    for _ in range(steps):
        step(micro_batch, seq)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before - overhead
    e = estimate(resolved, 1, sharding="none", micro_batch=micro_batch, kernels="eager")
    m = e.memory
    return {
        "recipe": recipe, "size": size, "sets": sets, "micro_batch": micro_batch, "seq_len": seq,
        "params": n, "estimate_params": e.total_params, "precision": resolved.precision,
        "measured_bytes": peak, "estimate_bytes": m.total, "ratio": m.total / peak, "peak_at": m.peak_at,
        "terms": {"weights": m.weights, "gradients": m.gradients, "optimizer": m.optimizer,
                  "activations": m.activations, "logits": m.logits, "optimizer_step": m.optimizer_step},
        "overhead_bytes": overhead, "torch": torch.__version__, "threads": torch.get_num_threads(),
    }


def run_case(recipe: str, size: str, micro_batch: int, sets: list[str], cwd=None, timeout: float = 600) -> dict:
    """``measure`` in a fresh process (its own resident-set peak); the JSON it prints, as a dict."""
    import subprocess

    cmd = [sys.executable, "-m", "recipec.verify.memory", str(recipe), "--size", size,
           "--micro-batch", str(micro_batch)]
    for s in sets:
        cmd += ["--set", s]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=timeout)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recipe")
    ap.add_argument("--size", required=True)
    ap.add_argument("--micro-batch", type=int, required=True)
    ap.add_argument("--set", dest="sets", action="append", default=[])
    ap.add_argument("--steps", type=int, default=2)
    args = ap.parse_args(argv)
    if not sys.platform.startswith("linux"):
        sys.exit("recipec.verify.memory measures the resident set through /proc: Linux only")
    if os.environ.get(MMAP_ENV) is None:  # glibc reads it at start-up: run again with it set
        os.execve(sys.executable, [sys.executable, "-m", "recipec.verify.memory", *sys.argv[1:]],
                  {**os.environ, MMAP_ENV: "65536"})
    print(json.dumps(measure(args.recipe, args.size, args.micro_batch, args.sets, args.steps)))


if __name__ == "__main__":
    main()
