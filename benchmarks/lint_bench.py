"""Benchmark `recipec lint`.

1. One recipe, beside yamllint on the same file, in one run: each tool is started as a fresh process
   REPS times, alternating, and the medians of the wall times are compared (goal: recipec ≤ 1.5×
   yamllint). A third command times the foundation alone (import, load the recipe, resolve every size,
   no lint) so that lint's own share is visible.
2. N generated recipes (default 1000) linted in one process (goal: ≤ 10 s): through the API
   (``lint_paths`` on the folder, imports done first) and as one ``recipec lint FOLDER`` process (imports
   included), each with its wall and CPU time (CPU is less hit by a loaded machine).

    python benchmarks/lint_bench.py [--reps 15] [--n 1000] [--recipe examples/llama-proxy.yaml] [--many-only]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

FOUNDATION_ONLY = (
    "import sys; import recipec.cli; from recipec.load import load_recipe; "
    "from recipec.transfer import resolve_loaded, load_rulesets; "
    "L = load_recipe(sys.argv[1]); s = load_rulesets(L.recipe, None, L.source_map, L.path); "
    "[resolve_loaded(L, n, rulesets=s) for n in [None, *L.recipe.sizes]]"
)


def _bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if not found:
        sys.exit(f"{name} not found (pip install -e '.[dev]')")
    return found


def _wall(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO, check=False)
    return time.perf_counter() - t


def single_file(recipe: str, reps: int) -> dict:
    commands = {
        "yamllint": [_bin("yamllint"), recipe],
        "recipec lint": [_bin("recipec"), "lint", recipe],
        "foundation only (load + resolve, no lint)": [sys.executable, "-c", FOUNDATION_ONLY, recipe],
    }
    for cmd in commands.values():  # warm the file cache and the .pyc files
        _wall(cmd)
    times: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(reps):
        for name, cmd in commands.items():
            times[name].append(_wall(cmd))
    return {k: statistics.median(v) for k, v in times.items()}


def generate(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """n plausible recipes: the LLaMA example's structure with random shapes, values and sizes."""
    rng = random.Random(seed)
    paths = []
    for i in range(n):
        width = rng.choice([128, 256, 384, 512])
        head_dim = rng.choice([32, 64, 128])
        while width % head_dim:
            head_dim //= 2
        depth = rng.choice([4, 6, 8, 12])
        seq = rng.choice([1024, 2048, 4096])
        sizes = []
        for j in range(rng.randint(1, 3)):
            mult = rng.choice([2, 4, 8, 16, 32])
            sizes.append(
                f"  s{j}:\n"
                f"    model: {{width: {width * mult}, depth: {depth * rng.choice([1, 2, 4])}}}\n"
                f"    batch: {{global_sequences: {64 * rng.choice([1, 2, 4, 8])}}}\n"
                f"    run: {{tokens: {rng.randint(1, 50) * 10**9}}}\n")
        transfer = rng.choice(["[fan2025, completep, adam-sqrt-batch]", "[mup-adamw, adam-sqrt-batch]",
                               "[mup-megatron, completep]", "[fan2025, adam-sqrt-batch, adamw-timescale]"])
        text = (
            f"name: generated-{i}\n"
            f"model:\n  width: {width}\n  depth: {depth}\n  head_dim: {head_dim}\n  ffn_multiplier: 4\n"
            f"  vocab_size: {rng.choice([32000, 50304, 128256])}\n  seq_len: {seq}\n"
            f"  qk_norm: {rng.choice(['true', 'false'])}\n"
            f"optimizer:\n  name: adamw\n  lr: {rng.uniform(1e-3, 1e-2):.3e}\n"
            f"  weight_decay: {rng.choice([0.01, 0.05, 0.1])}\n  wd_convention: coupled\n"
            f"  eps: 1.0e-8\n  grad_clip: 1.0\n"
            f"init:\n  parametrization: mup\n  std: 0.02\n"
            f"schedule:\n  warmup: {{fraction: 0.01}}\n  decay: cosine\n"
            f"batch:\n  global_sequences: 64\n  micro_batch: 4\n"
            f"run:\n  tokens: {rng.randint(1, 5) * 10**9}\n"
            f"transfer: {transfer}\n"
            f"sizes:\n" + "".join(sizes)
        )
        p = folder / f"r{i:04d}.yaml"
        p.write_text(text, encoding="utf-8")
        paths.append(p)
    return paths


def many(n: int) -> dict:
    """Lint n generated recipes in one process: the API (after imports) and the command (with them)."""
    import resource

    import recipec.cli  # noqa: F401  (imports are not part of the API figure)
    from recipec.lint import lint_paths

    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp), n)
        cpu, t = time.process_time(), time.perf_counter()
        diags = lint_paths([tmp])
        api = (time.perf_counter() - t, time.process_time() - cpu)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run([_bin("recipec"), "lint", tmp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       cwd=REPO, check=False)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cli = (wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return {"api": api, "cli": cli, "findings": len(diags), "codes": len({d.code for d in diags})}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default="examples/llama-proxy.yaml")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--many-only", action="store_true", help="only part 2 (the N recipes)")
    args = ap.parse_args()
    import os

    # Children run with their bytecode cached, as after ``pip install`` (see cli_latency.py): a folder of
    # this run, filled by the warm-up, instead of recompiling every module on each start.
    pycache = tempfile.mkdtemp(prefix="recipec-bench-pyc-")
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = pycache

    if not args.many_only:
        med = single_file(args.recipe, args.reps)
        y = med["yamllint"]
        print(f"one recipe ({args.recipe}), median of {args.reps} fresh processes each:")
        for name, t in med.items():
            print(f"  {name:<44} {t * 1000:7.0f} ms   {t / y:4.2f}x yamllint")
        lint_share = med["recipec lint"] - med["foundation only (load + resolve, no lint)"]
        print(f"  lint's own share (recipec lint - foundation only): {lint_share * 1000:.0f} ms")
        print(f"  goal recipec lint <= 1.5x yamllint: {'met' if med['recipec lint'] <= 1.5 * y else 'NOT met'}")

    r = many(args.n)
    print(f"{args.n} generated recipes in one process, {r['findings']} findings, {r['codes']} distinct codes:")
    for name, (wall, cpu) in (("lint_paths (API, after imports)", r["api"]), ("recipec lint FOLDER", r["cli"])):
        print(f"  {name:<32} wall {wall:6.2f} s  CPU {cpu:6.2f} s  ({cpu / args.n * 1000:.1f} ms CPU/recipe); "
              f"goal <= 10 s: {'met' if max(wall, cpu) <= 10 else 'met in CPU only' if cpu <= 10 else 'NOT met'}")
    shutil.rmtree(pycache, ignore_errors=True)


if __name__ == "__main__":
    main()
