"""Wall time of `recipec compile` and `recipec explain` on the shipped example, beside `yamllint` on the
same file, measured in one run (interleaved, medians) so that machine noise hits all three alike.

    python benchmarks/cli_latency.py [--repeat 15] [--recipe examples/llama-proxy.yaml] [--size 8b]
                                     [--baseline-tree PATH]

``compile`` is run without ``--target``: it resolves and writes OUT/resolved.json only (no renderer is
imported). Every command runs with its bytecode cached, as after ``pip install`` (which compiles it):
PYTHONDONTWRITEBYTECODE is dropped for the children and PYTHONPYCACHEPREFIX points at a folder of this
run, filled by the warm-up pass, so that a checkout is not timed compiling its sources on every start
(``--no-bytecode-cache`` times that instead).

Prints a table and the ratio to yamllint (goal: <= 1.5x). ``--baseline-tree`` also times another checkout
of recipec (``git worktree add /tmp/base <ref>``) run as ``python -m recipec`` would with that tree first
on ``sys.path`` (ahead of the working directory, which ``-m`` would put first and so time this checkout
twice), interleaved in the same run, for a before/after comparison. Exit 0 always: this is a
measurement, not a test.
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


CPU: dict[str, list[float]] = {}  # user + system seconds of each child, beside the wall time (less hit by load)


def timed(cmd: list[str], env: dict | None = None, name: str | None = None) -> float:
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT, env=env)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if name is not None:
        CPU.setdefault(name, []).append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 1):  # yamllint exits 1 when it has findings
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.decode()[:500]}")
    return elapsed


def instructions(commands: dict[str, list[str]], envs: dict[str, dict | None]) -> None:
    """Instructions executed by each command (valgrind's callgrind, about 50x slower than a plain run)."""
    import re

    valgrind = shutil.which("valgrind") or sys.exit("--instructions needs valgrind on PATH")
    counts = {}
    for name, cmd in commands.items():
        program = cmd if cmd[0] == sys.executable else [sys.executable, *cmd]  # console scripts: their python
        proc = subprocess.run([valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", *program],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=envs[name])
        found = re.search(r"Collected : (\d+)", proc.stderr)
        if found is None:
            raise SystemExit(f"valgrind gave no count for {name}: {proc.stderr[-500:]}")
        counts[name] = int(found.group(1))
    base = counts["yamllint"]
    print(f"{'command':<20} {'instructions':>14} {'x yamllint':>10}")
    for name, n in counts.items():
        print(f"{name:<20} {n:>14,} {n / base:>10.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--recipe", default="examples/llama-proxy.yaml")
    ap.add_argument("--size", default="8b")
    ap.add_argument("--baseline-tree", default=None, metavar="PATH",
                    help="another recipec checkout to time beside this one (as python -m recipec)")
    ap.add_argument("--instructions", action="store_true",
                    help="count each command's instructions once under valgrind (callgrind) instead of timing it: "
                         "a figure the load of a shared machine does not move")
    ap.add_argument("--no-bytecode-cache", action="store_true",
                    help="keep the environment's bytecode setting (PYTHONDONTWRITEBYTECODE=1 recompiles every start)")
    args = ap.parse_args()
    import os

    base_env = dict(os.environ)
    pycache = None
    if not args.no_bytecode_cache:
        pycache = tempfile.mkdtemp(prefix="recipec-bench-pyc-")
        base_env.pop("PYTHONDONTWRITEBYTECODE", None)
        base_env["PYTHONPYCACHEPREFIX"] = pycache
    recipec = shutil.which("recipec") or sys.exit("recipec is not on PATH (pip install -e .)")
    yamllint = shutil.which("yamllint") or sys.exit("yamllint is not on PATH (pip install -e '.[dev]')")
    out = tempfile.mkdtemp(prefix="recipec-bench-")
    commands = {
        "yamllint": [yamllint, args.recipe],
        "recipec explain": [recipec, "explain", args.recipe, "--size", args.size],
        "recipec compile": [recipec, "compile", args.recipe, "--size", args.size, "--out", out],
        "recipec lint": [recipec, "lint", args.recipe],
        "python -c pass": [sys.executable, "-c", "pass"],
    }
    envs: dict[str, dict | None] = dict.fromkeys(commands, base_env)
    if args.baseline_tree:
        env = dict(base_env, PYTHONPATH=str(Path(args.baseline_tree).resolve()))
        base_out = tempfile.mkdtemp(prefix="recipec-bench-base-")
        def py(tree: Path) -> list[str]:  # the tree first on sys.path, before the working directory (ROOT)
            return [sys.executable, "-c", "import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); sys.argv[0] = "
                    "'recipec'; runpy.run_module('recipec', run_name='__main__')", str(tree)]

        here = dict(base_env, PYTHONPATH=str(ROOT))
        for tree, path, tree_env, tree_out in (("baseline", Path(args.baseline_tree).resolve(), env, base_out),
                                               ("this tree", ROOT, here, out)):
            for what, extra in (("explain", ["--size", args.size]),
                                ("compile", ["--size", args.size, "--out", tree_out]),
                                ("lint", [])):
                name = f"{what} ({tree})"
                commands[name], envs[name] = py(path) + [what, args.recipe, *extra], tree_env
    for name, cmd in commands.items():  # warm the page cache
        timed(cmd, envs[name])
    if args.instructions:
        instructions(commands, envs)
        return
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeat):
        for name, cmd in commands.items():
            samples[name].append(timed(cmd, envs[name], name))
    base = statistics.median(samples["yamllint"])
    cpu_base = statistics.median(CPU["yamllint"])
    print(f"{'command':<20} {'median s':>9} {'min s':>7} {'x yamllint':>10} {'cpu s':>7} {'cpu x yamllint':>14}")
    for name, values in samples.items():
        med, cpu = statistics.median(values), statistics.median(CPU[name])
        print(f"{name:<20} {med:>9.3f} {min(values):>7.3f} {med / base:>10.2f} {cpu:>7.3f} {cpu / cpu_base:>14.2f}")
    shutil.rmtree(out, ignore_errors=True)
    if pycache:
        shutil.rmtree(pycache, ignore_errors=True)


if __name__ == "__main__":
    main()
