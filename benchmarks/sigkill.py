"""SIGKILL during compile over a previous good output: the directory must hold the old set or the new set.

    python benchmarks/sigkill.py [--kills 60] [--seed 0]

1. ``compile`` the LLaMA example for all four targets with the slurm launcher into ``OUT`` (the old
   set; ``OUT`` also holds a file of the user's, which must survive every run), and the same with
   ``--set optimizer.lr=0.001`` into a reference directory (the new set).
2. ``--kills`` times: start the new compile over ``OUT`` in a child process whose file-system steps
   are slowed — every ``os.replace``, ``os.rename``, ``os.link``, file write and the directory exchange
   sleeps 5–30 ms — and SIGKILL it: every other kill after a random delay between 0 and the length of
   an unkilled run, the others at a random point of the output phase (the child announces it).
3. After each kill, compare ``OUT`` (every file's bytes and executable bit) with both sets: it must
   equal one of them exactly. Then run an ordinary compile of the old set over it, which must remove
   whatever staging directory the kill left beside ``OUT``.

Prints the counts: kills, complete old sets, complete new sets, mixed sets (must be 0), directories
missing (must be 0), kills that left a staging directory, and next runs that left something of the
killed run behind — a staging directory beside ``OUT`` or inside it (must be 0).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "examples" / "llama-proxy.yaml"
ARGS = ["-s", "8b", "-t", "torchtitan", "-t", "megatron", "-t", "hf", "-t", "neutral", "-l", "slurm"]
NEW = ["--set", "optimizer.lr=0.001"]

CHILD = r"""
import os, random, sys, time
import recipec.render.writer as w

rng = random.Random(os.getpid())
def slow(fn):
    def wrapped(*a, **k):
        time.sleep(rng.uniform(0.005, 0.03))
        return fn(*a, **k)
    return wrapped
os.replace, os.rename, os.link = slow(os.replace), slow(os.rename), slow(os.link)
for name in ("_exchange", "_write_file"):  # the set writer's own steps (absent before issue 11's writer)
    if hasattr(w, name):
        setattr(w, name, slow(getattr(w, name)))
import recipec.render as r
write_outputs = r.write_outputs
def announced(*a, **k):
    print("writing", flush=True)
    try:
        return write_outputs(*a, **k)
    finally:
        print("written", flush=True)
r.write_outputs = announced
from recipec.cli import main
sys.argv = ["recipec", "compile", *sys.argv[1:]]
main()
"""


def snapshot(out: Path) -> dict[str, tuple[bytes, bool]] | None:
    if not out.is_dir():
        return None
    files = {}
    for p in sorted(out.rglob("*")):
        if p.is_file():
            files[p.relative_to(out).as_posix()] = (p.read_bytes(), bool(p.stat().st_mode & 0o111))
    return files


def leftovers(out: Path) -> list[Path]:
    return [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.recipec-")]


def _reset(out: Path, files: dict[str, tuple[bytes, bool]]) -> None:
    """Put exactly ``files`` back (after a run that left something behind), so the next kill starts clean."""
    import shutil

    for p in leftovers(out):
        shutil.rmtree(p, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    for rel, (data, executable) in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
        (out / rel).chmod(0o755 if executable else 0o644)


def compile_(out: Path, extra: list[str], child: bool = False) -> subprocess.Popen | subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if child:
        return subprocess.Popen([sys.executable, "-c", CHILD, str(RECIPE), "-o", str(out), *ARGS, *extra],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return subprocess.run([sys.executable, "-m", "recipec", "compile", str(RECIPE), "-o", str(out), *ARGS, *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    rng = random.Random(a.seed)
    with tempfile.TemporaryDirectory(prefix="recipec-sigkill-") as tmp:
        out, ref = Path(tmp) / "out", Path(tmp) / "ref"
        out.mkdir()
        (out / "my-notes.txt").write_text("the user's own file\n", encoding="utf-8")
        ref.mkdir()
        (ref / "my-notes.txt").write_text("the user's own file\n", encoding="utf-8")
        compile_(out, [])
        compile_(ref, NEW)
        old, new = snapshot(out), snapshot(ref)
        assert old != new and old is not None and new is not None
        began = time.perf_counter()
        p = compile_(out, NEW, child=True)
        assert p.stdout.readline().strip() == "writing"
        writing = time.perf_counter()
        assert p.stdout.readline().strip() == "written"
        phase = time.perf_counter() - writing
        p.wait()
        full = time.perf_counter() - began
        assert p.returncode == 0 and snapshot(out) == new, "an unkilled slowed run must write the new set"
        compile_(out, [])
        counts = dict(kills=0, old=0, new=0, mixed=0, missing=0, left_staging=0, staging_after_next_run=0)
        for k in range(a.kills):
            p = compile_(out, NEW, child=True)
            if k % 2:  # every other kill lands inside the output phase
                delay = rng.uniform(0, phase)
                assert p.stdout.readline().strip() == "writing"
            else:  # the others anywhere in the run
                delay = rng.uniform(0, full)
            time.sleep(delay)
            p.send_signal(signal.SIGKILL)
            p.wait()
            counts["kills"] += 1
            got = snapshot(out)
            if got is None:
                counts["missing"] += 1
            elif got == old:
                counts["old"] += 1
            elif got == new:
                counts["new"] += 1
            else:
                counts["mixed"] += 1
                print(f"mixed set after a kill at {delay:.3f} s", file=sys.stderr)
            if leftovers(out):
                counts["left_staging"] += 1
            compile_(out, [])  # the next run: the old set again, and cleans up what the kill left
            if leftovers(out) or snapshot(out) != old:  # beside OUT, or (older writers) inside it
                counts["staging_after_next_run"] += 1
                _reset(out, old)
        wall = time.perf_counter() - began
    print(f"unkilled slowed compile: {full:.2f} s, of which writing the output set {phase:.2f} s; {counts['kills']} "
          f"kills, half at uniform random points of the run, half of the output phase; wall {wall:.0f} s")
    print("| kills | complete old set | complete new set | mixed | directory missing | kill left a staging dir | "
          "staging dirs after the next run |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {counts['kills']} | {counts['old']} | {counts['new']} | {counts['mixed']} | {counts['missing']} | "
          f"{counts['left_staging']} | {counts['staging_after_next_run']} |")
    return 0 if counts["mixed"] == counts["missing"] == counts["staging_after_next_run"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
