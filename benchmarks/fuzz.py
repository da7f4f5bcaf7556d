"""Structure-aware fuzzing of every command: mutated recipes through compile, lint, explain and estimate.

    python benchmarks/fuzz.py --recipes 10000 [--seed 0] [--findings DIR] [--jobs 2]

The seeds are the recipes in ``examples/`` and ``tests/data/``. Each fuzzed recipe is one seed with
one to four mutations of its parsed tree — a value replaced by a hostile number (0, -1, 2^24 + 1,
2^53, 10^400, 1e308, 5e-324, NaN, ±inf), a hostile string (a raw newline, U+2028, NUL, BEL, 300
characters), a wrong type, a deep list; a number scaled by 1000 or 10^-6; a key deleted, added, or
moved between sections; a size added or changed; the transfer list replaced by built-in rule sets with
random parameters or by a generated rule-set file with hostile exponents — or, one time in ten, a
textual mutation of the YAML (a truncation, a flipped byte, an inserted control character, a deep
bracket run). Every recipe then runs, in-process through the click command line, four commands:

* ``compile`` to a fresh directory — one target per recipe in turn (torchtitan, megatron, hf,
  neutral) or all four at once, with a launcher in turn (torchrun, slurm, k8s);
* ``lint`` in a format in turn (text, json, sarif, github);
* ``explain`` and ``estimate`` at a size of the recipe (or the proxy, or a size it does not have).

And counts five things that must all be zero:

1. a Python traceback (an exception other than SystemExit), by site;
2. an exit code outside {0, 1, 2};
3. a command that ran longer than 10 s;
4. an unlocated error: an exit-2 message line without ``file:line:col:`` (line ≥ 1), or a lint
   finding without a line;
5. a non-finite number (NaN, ±Infinity) in stdout or in a generated file of a command that exited 0
   or 1.

Findings (the recipe and the command) are written under ``--findings`` for replay. ``run(n, seed)`` is
the same harness as a function: ``tests/test_fuzz.py`` runs a bounded slice of it.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import math
import os
import random
import re
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGETS = ("torchtitan", "megatron", "hf", "neutral")
LAUNCHERS = ("torchrun", "slurm", "k8s")
FORMATS = ("text", "json", "sarif", "github")
BUILTIN_RULES = ("fan2025", "mup-adamw", "mup-megatron", "completep", "adam-sqrt-batch", "sgd-linear-batch",
                 "adamw-timescale", "deepseek-2024", "step-law-2025", "muon-spectral", "mup-moe")
SLOW_S = 10.0

LOCATED = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): ")
# NaN / Infinity as a number (JSON, Python, YAML, shell), not inside a word ("info", "inference")
NON_FINITE = re.compile(r"(?<![\w.\\])[-+]?(?:nan|inf|infinity|\.nan|\.inf)(?![\w])", re.IGNORECASE)
QUIET_LINES = ("warning: ", "note: ", "wrote ", "error: --")  # progress lines, and usage errors of options

HOSTILE_NUMBERS = [0, -1, 1, 2, 3, 7, 48, 255, 2**24, 2**24 + 1, 2**31, 2**53, 2**53 + 1, 2**63, 2**64,
                   10**30, 10**400, 0.0, -0.0, 0.5, 1.5, 1e-30, 9.9e-31, 1e30, 1.1e30, 1e308, 5e-324, 1e-300,
                   float("nan"), float("inf"), float("-inf"), 8 / 3, 1e-8, 0.999999, 1.0000001]
HOSTILE_STRINGS = ["", "x" * 300, "a\nb", "a\u2028b", "a\rb", "a\x00b", "bell\x07", "esc\x1b[31m", "é ü 漢字",
                   "$(touch PWNED)", "'; rm -rf /'", "{{ 7*7 }}", "{% raw %}", "../../etc/passwd", "--help",
                   "a,b:c", "%0A", "true", "null", "0x1F", "1_000", "\t", " leading", "trailing "]
HOSTILE_OTHER = [None, True, False, [], {}, [1, 2], {"a": 1}, [[[[[[[[1]]]]]]]], "abc"]
HOSTILE_EXPONENTS = ["9**9**9", "10**400", "(-1)**0.5", "1/0", "alpha**alpha**alpha", "2**100", "-64", "64.5",
                     "1e400", "alpha", "alpha - 1", "0", "1e-300", "((((((((1))))))))", "1 +", "__import__('os')",
                     "nan", 1e308, -1e308, 0.5, -1, 2]


# --------------------------------------------------------------------------- mutation


def _paths(node, prefix=()):
    """Every path into a tree of dicts and lists (including the root)."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def _get(node, path):
    for p in path:
        node = node[p]
    return node


def _set(root, path, value):
    if not path:
        return value
    parent = _get(root, path[:-1])
    parent[path[-1]] = value
    return root


def _delete(root, path):
    parent = _get(root, path[:-1])
    if isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent.pop(path[-1])
    return root


def _hostile_value(rng: random.Random, old):
    roll = rng.random()
    if isinstance(old, bool) or roll < 0.1:
        return rng.choice(HOSTILE_OTHER + HOSTILE_NUMBERS)
    if isinstance(old, (int, float)) and roll < 0.8:
        if rng.random() < 0.5:
            return rng.choice(HOSTILE_NUMBERS)
        factor = rng.choice([1000, 1e-6, -1, 2, 0.5, 10**6, 1e30, 1e-30, 3])
        value = old * factor
        return int(value) if isinstance(old, int) and isinstance(factor, int) else value
    if isinstance(old, str) and roll < 0.8:
        return rng.choice(HOSTILE_STRINGS + ["fan2025", "completep", "./rules.yaml"])
    return rng.choice(HOSTILE_NUMBERS + HOSTILE_STRINGS + HOSTILE_OTHER)


def _rule_file(rng: random.Random) -> str:
    """A generated rule-set file: a few rules with hostile (or ordinary) exponents and values."""
    rules = []
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 4])):
        hp = rng.choice(["lr", "weight_decay", "eps", "init_std", "output_multiplier", "attn_logit_scale"])
        cls = "global" if hp in ("output_multiplier", "attn_logit_scale") else rng.choice(
            ["hidden", "embedding", "output", "vector", "all"])
        rule = {"class": cls, "hp": hp}
        if rng.random() < 0.8:
            rule["axis"] = rng.choice(["width", "depth", "batch", "tokens", "head_dim"])
            rule["exponent"] = rng.choice(HOSTILE_EXPONENTS)
        else:
            rule["value"] = rng.choice([0.0, 1.0, 1e30, 1e-30, 5e-324, 1e308, -1.0])
        rules.append(rule)
    doc = {"name": rng.choice(["myrules", "x" * 70, "my-rules"]), "title": "fuzz", "source": {"citation": "fuzz"},
           "params": {"alpha": rng.choice([1.0, 0.5, 1000.0, -1e30, 1e30])}, "rules": rules}
    if rng.random() < 0.3:
        doc["formulas"] = [{"class": "all", "hp": rng.choice(["lr", "batch_tokens"]),
                            "coefficient": rng.choice([1.0, 1e30, 1e-30, 0.5]),
                            "terms": {"compute": rng.choice([-64.0, 64.0, 0.5, -0.5]),
                                      "tokens": rng.choice([1.0, 10.0])}}]
    return _dump(doc)


def _mutate_tree(rng: random.Random, data: dict, seeds: list[dict]) -> tuple[dict, str | None]:
    """One structural mutation; returns the tree and, when the mutation made one, a rule file's text."""
    rules_text = None
    op = rng.choice(["mild"] * 8 + ["value"] * 3 + ["delete", "add", "move", "size", "size", "transfer", "transfer",
                                                    "deep", "batch"])
    paths = [p for p in _paths(data) if p]
    if op == "mild":  # a plausible edit: most recipes should still compile, so render and lint get exercised
        numbers = [p for p in paths if isinstance(_get(data, p), (int, float)) and not isinstance(_get(data, p), bool)]
        if numbers:
            path = rng.choice(numbers)
            old = _get(data, path)
            if isinstance(old, int):
                new = rng.choice([old * 2, max(1, old // 2), old + 1, max(0, old - 1), 1, 2, 8, 64, 128, 4096])
            else:
                new = rng.choice([old * 2, old / 2, old * 10, old / 10, 0.1, 1e-4, 0.0, 1.0])
            data = _set(data, path, new)
    elif op == "value" and paths:
        path = rng.choice(paths)
        data = _set(data, path, _hostile_value(rng, _get(data, path)))
    elif op == "delete" and paths:
        data = _delete(data, rng.choice(paths))
    elif op == "add":
        dicts = [p for p in _paths(data) if isinstance(_get(data, p), dict)]
        path = rng.choice(dicts)
        other = rng.choice(seeds)
        donor = [p for p in _paths(other) if p]
        key = rng.choice(["extra", "lrr", "width", "micro_batch", "per_kind", "heads", "kv_heads", "tokens",
                          "steps", "fraction", "decay_steps", "ffn_hidden", "gpu", "a\nb", "a\u2028b", "<<"])
        value = copy.deepcopy(_get(other, rng.choice(donor))) if donor and rng.random() < 0.5 else \
            _hostile_value(rng, 1)
        _get(data, path)[key] = value
    elif op == "move" and len(paths) > 1:
        a, b = rng.sample(paths, 2)
        if a[: len(b)] != b and b[: len(a)] != a:
            va, vb = copy.deepcopy(_get(data, a)), copy.deepcopy(_get(data, b))
            data = _set(_set(data, a, vb), b, va)
    elif op == "size":
        sizes = data.setdefault("sizes", {}) if isinstance(data.get("sizes", {}), dict) else {}
        name = rng.choice(["big", "8b", "huge", "x" * 70, "a b"])
        sizes[name] = {rng.choice(["model", "batch", "run", "cluster", "overrides"]): {
            rng.choice(["width", "depth", "heads", "kv_heads", "global_sequences", "global_tokens", "micro_batch",
                        "tokens", "steps", "nodes", "tensor_parallel", "seq_len", "ffn_multiplier"]):
                rng.choice(HOSTILE_NUMBERS + [4096, 8192, 64, 16, 1 << 20])}}
    elif op == "transfer":
        if rng.random() < 0.35:
            rules_text = _rule_file(rng)
            data["transfer"] = ["./rules.yaml"] + rng.sample(BUILTIN_RULES, rng.randint(0, 1))
        else:
            chosen = rng.sample(BUILTIN_RULES, rng.randint(0, 3))
            if chosen and rng.random() < 0.5:
                chosen[0] = {"name": chosen[0], "params": {rng.choice(["alpha", "beta"]): rng.choice(
                    [0.5, 1.0, 1000.0, 1e30, -1e30, 1e-30, 64.0])}}
            data["transfer"] = chosen
    elif op == "deep":
        deep: object = 1
        for _ in range(rng.choice([10, 40, 63, 64, 65, 200])):
            deep = [deep]
        path = rng.choice(paths) if paths else ()
        data = _set(data, path, deep) if path else data
    elif op == "batch":  # the batch arithmetic: sequences vs micro batch vs data parallel
        data.setdefault("batch", {}) if isinstance(data.get("batch"), dict) else None
        batch = data.get("batch") if isinstance(data.get("batch"), dict) else {}
        batch["micro_batch"] = rng.choice([1, 3, 7, 48, 2**24, 2**24 + 1])
        data.setdefault("cluster", {}) if isinstance(data.get("cluster"), dict) else None
        if isinstance(data.get("cluster"), dict):
            data["cluster"][rng.choice(["gpus_per_node", "tensor_parallel", "nodes"])] = rng.choice([1, 3, 8, 2**20])
    return data, rules_text


def _dump(data) -> str:
    from ruamel.yaml import YAML

    y = YAML(typ="safe", pure=True)
    y.default_flow_style = False
    y.allow_unicode = False  # control characters escaped, so the text stays loadable YAML
    buf = io.StringIO()
    try:
        y.dump(data, buf)
        return buf.getvalue()
    except Exception:  # noqa: BLE001 - something the dumper cannot write: JSON is YAML too
        return json.dumps(data, default=str)


def _mutate_text(rng: random.Random, text: str) -> str:
    op = rng.choice(["truncate", "flip", "control", "brackets", "indent", "duplicate", "bom", "tab"])
    if op == "truncate" and text:
        return text[: rng.randrange(len(text))]
    if op == "flip" and text:
        i = rng.randrange(len(text))
        return text[:i] + rng.choice(":[]{}-?&*!|>'\"%@`#,") + text[i + 1:]
    if op == "control":
        i = rng.randrange(len(text) + 1)
        return text[:i] + rng.choice("\x00\x07\x1b\x7f\x85\u2028\ufeff\x0c") + text[i:]
    if op == "brackets":
        n = rng.choice([65, 1000, 30000])
        return text + f"\nzz: {'[' * n}{']' * n}\n"
    if op == "indent":
        lines = text.splitlines()
        if lines:
            i = rng.randrange(len(lines))
            lines[i] = " " * rng.randint(1, 5) + lines[i]
        return "\n".join(lines) + "\n"
    if op == "duplicate":
        lines = text.splitlines()
        if lines:
            i = rng.randrange(len(lines))
            lines.insert(i, lines[i])
        return "\n".join(lines) + "\n"
    if op == "bom":
        return "\ufeff" + text
    return text.replace("  ", "\t", 1)


def load_seeds() -> list[tuple[str, dict]]:
    from ruamel.yaml import YAML

    files = sorted((ROOT / "examples").rglob("*.yaml")) + sorted((ROOT / "tests" / "data").glob("*.yaml"))
    seeds = []
    for f in files:
        data = YAML(typ="safe", pure=True).load(f.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "model" in data:
            seeds.append((f.name, data))
    return seeds


def make_recipe(rng: random.Random, seeds: list[tuple[str, dict]]) -> tuple[str, str | None, list[str]]:
    """(recipe text, rule-file text or None, the sizes to try) for one fuzz case."""
    _, seed = rng.choice(seeds)
    data = copy.deepcopy(seed)
    rules_text = None
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 4])):
        data, rt = _mutate_tree(rng, data, [s for _, s in seeds])
        rules_text = rt or rules_text
    text = _dump(data) if isinstance(data, dict) else _dump({"x": data})
    if rng.random() < 0.1:
        text = _mutate_text(rng, text)
    sizes = list(data.get("sizes") or {}) if isinstance(data, dict) and isinstance(data.get("sizes"), dict) else []
    return text, rules_text, [str(s) for s in sizes]


# --------------------------------------------------------------------------- running and judging


@dataclass
class Tally:
    recipes: int = 0
    commands: int = 0
    exits: Counter = field(default_factory=Counter)
    tracebacks: Counter = field(default_factory=Counter)  # by site
    bad_exit: int = 0
    slow: int = 0
    unlocated: int = 0
    non_finite: int = 0
    slowest_s: float = 0.0
    findings: list = field(default_factory=list)

    def merge(self, other: Tally) -> None:
        self.recipes += other.recipes
        self.commands += other.commands
        self.exits.update(other.exits)
        self.tracebacks.update(other.tracebacks)
        self.bad_exit += other.bad_exit
        self.slow += other.slow
        self.unlocated += other.unlocated
        self.non_finite += other.non_finite
        self.slowest_s = max(self.slowest_s, other.slowest_s)
        self.findings += other.findings

    @property
    def traceback_runs(self) -> int:
        return sum(self.tracebacks.values())

    def ok(self) -> bool:
        return not (self.traceback_runs or self.bad_exit or self.slow or self.unlocated or self.non_finite)


def _site(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    frames = [f for f in tb if "/recipec/" in f.filename] or tb
    f = frames[-1]
    return f"{type(exc).__name__} at {Path(f.filename).name}:{f.lineno}"


def _unlocated_lines(stderr: str) -> list[str]:
    bad = []
    for line in stderr.splitlines():
        if not line.strip() or line.startswith(QUIET_LINES):
            continue
        m = LOCATED.match(line)
        if not m or int(m["line"]) < 1:
            bad.append(line)
    return bad


def _lint_unlocated(fmt: str, stdout: str) -> list[str]:
    """Findings without a line, per format (each format carries the location its own way)."""
    bad = []
    if fmt == "text":
        for line in stdout.splitlines():
            if re.match(r"^\d+ (error|warning|info)", line):
                continue  # the summary line
            m = LOCATED.match(line)
            if not m or int(m["line"]) < 1:
                bad.append(line)
    elif fmt == "json":
        bad = [json.dumps(d) for d in json.loads(stdout) if not d.get("line") or d["line"] < 1]
    elif fmt == "sarif":
        for r in json.loads(stdout)["runs"][0]["results"]:
            region = (r.get("locations") or [{}])[0].get("physicalLocation", {}).get("region", {})
            if region.get("startLine", 0) < 1:
                bad.append(json.dumps(r))
    else:
        bad = [line for line in stdout.splitlines() if line and not re.search(r"line=[1-9]\d*,", line)]
    return bad


def _non_finite_in(text: str) -> list[str]:
    return [m.group(0) for m in NON_FINITE.finditer(text)]


def _outputs_text(out: Path) -> str:
    if not out.is_dir():
        return ""
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in sorted(out.rglob("*")) if p.is_file())


def _invoke(runner, args: list[str]):
    from recipec.cli import main

    start = time.perf_counter()
    result = runner.invoke(main, args, catch_exceptions=True)
    return result, time.perf_counter() - start


def run_case(rng: random.Random, seeds, work: Path, index: int, tally: Tally, findings: Path | None) -> None:
    from click.testing import CliRunner

    text, rules_text, sizes = make_recipe(rng, seeds)
    case = work / f"case{index}"
    case.mkdir()
    recipe = case / "recipe.yaml"
    recipe.write_text(text, encoding="utf-8", errors="surrogatepass")
    if rules_text is not None:
        (case / "rules.yaml").write_text(rules_text, encoding="utf-8")
    size = rng.choice(sizes + [None, None, "nosuchsize"]) if sizes else rng.choice([None, "nosuchsize"])
    size_args = ["--size", size] if size else []
    targets = TARGETS if index % 5 == 4 else (TARGETS[index % 4],)
    out = case / "out"
    commands = [
        ("compile", ["compile", str(recipe), *size_args, "-o", str(out), *[a for t in targets for a in ("-t", t)],
                     "-l", LAUNCHERS[(index // 5) % 3]]),
        ("lint", ["lint", str(recipe), "--format", FORMATS[index % 4]]),
        ("explain", ["explain", str(recipe), *size_args]),
        ("estimate", ["estimate", str(recipe), *size_args]),
    ]
    tally.recipes += 1
    for name, args in commands:
        runner = CliRunner()
        result, wall = _invoke(runner, args)
        tally.commands += 1
        tally.slowest_s = max(tally.slowest_s, wall)
        code = result.exit_code
        tally.exits[(name, code)] += 1
        problems = []
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            site = _site(result.exception)
            tally.tracebacks[site] += 1
            problems.append(f"traceback: {site}")
        if code not in (0, 1, 2):
            tally.bad_exit += 1
            problems.append(f"exit code {code}")
        if wall > SLOW_S:
            tally.slow += 1
            problems.append(f"ran {wall:.1f} s")
        stdout, stderr = result.stdout, result.stderr
        if code == 2 and not problems:
            bad = _unlocated_lines(stderr)
            if name == "lint" and stdout:
                bad += _lint_unlocated(FORMATS[index % 4], stdout)
            if bad:
                tally.unlocated += 1
                problems.append(f"unlocated: {bad[0][:200]!r}")
        if code in (0, 1) and not problems:
            if name == "lint":
                bad = _lint_unlocated(FORMATS[index % 4], stdout)
                if bad:
                    tally.unlocated += 1
                    problems.append(f"unlocated finding: {bad[0][:200]!r}")
            nf = _non_finite_in(stdout) + (_non_finite_in(_outputs_text(out)) if name == "compile" else [])
            if nf:
                tally.non_finite += 1
                problems.append(f"non-finite number {nf[0]!r} in the output")
        if problems:
            tally.findings.append((index, name, problems))
            if findings is not None:
                d = findings / f"case{index}-{name}"
                shutil.copytree(case, d, dirs_exist_ok=True, ignore=shutil.ignore_patterns("out"))
                (d / "command.txt").write_text(" ".join(args) + "\n" + "\n".join(problems) + "\n" +
                                               (stderr or "")[-4000:], encoding="utf-8")
    shutil.rmtree(case, ignore_errors=True)


def run(n: int, seed: int = 0, findings: Path | None = None, progress: bool = False, start: int = 0) -> Tally:
    """Fuzz ``n`` recipes (cases ``start`` … ``start + n - 1`` of the stream for ``seed``)."""
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    seeds = load_seeds()
    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="recipec-fuzz-") as tmp:
        work = Path(tmp)
        began = time.perf_counter()
        for i in range(start, start + n):
            rng = random.Random(f"{seed}:{i}")  # each case reproducible on its own
            run_case(rng, seeds, work, i, tally, findings)
            if progress and (i - start + 1) % 500 == 0:
                el = time.perf_counter() - began
                print(f"  {i - start + 1}/{n} recipes, {el:.0f} s, tracebacks {tally.traceback_runs}, "
                      f"bad exits {tally.bad_exit}, slow {tally.slow}, unlocated {tally.unlocated}, "
                      f"non-finite {tally.non_finite}", file=sys.stderr, flush=True)
    return tally


def _worker(args):
    n, seed, start, findings = args
    return run(n, seed, Path(findings) if findings else None, progress=start == 0, start=start)


def report(t: Tally, wall: float, command: str) -> str:
    lines = [
        f"recipes {t.recipes}, commands {t.commands}, wall {wall:.0f} s ({1000 * wall / max(t.commands, 1):.0f} ms "
        f"per command), slowest command {t.slowest_s:.2f} s",
        f"command: {command}",
        "",
        "| measure | count |",
        "|---|---|",
        f"| runs with a Python traceback | {t.traceback_runs} ({len(t.tracebacks)} sites) |",
        f"| exit code outside 0/1/2 | {t.bad_exit} |",
        f"| runs over {SLOW_S:g} s | {t.slow} |",
        f"| errors without file:line | {t.unlocated} |",
        f"| non-finite numbers in outputs (exit 0/1) | {t.non_finite} |",
        "",
        "exit codes: " + ", ".join(f"{c} {code}: {n}" for (c, code), n in sorted(t.exits.items())),
    ]
    for site, n in t.tracebacks.most_common():
        lines.append(f"  traceback {site}: {n}")
    for index, name, problems in t.findings[:20]:
        lines.append(f"  case {index} {name}: {'; '.join(problems)}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipes", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--findings", type=Path, default=None, help="Write each finding's recipe and command here.")
    a = ap.parse_args(argv)
    if a.findings:
        a.findings.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    if a.jobs > 1:
        import multiprocessing

        per = math.ceil(a.recipes / a.jobs)
        chunks = [(min(per, a.recipes - j * per), a.seed, j * per, str(a.findings or "")) for j in range(a.jobs)
                  if a.recipes - j * per > 0]
        with multiprocessing.get_context("spawn").Pool(len(chunks)) as pool:
            tally = Tally()
            for t in pool.map(_worker, chunks):
                tally.merge(t)
    else:
        tally = run(a.recipes, a.seed, a.findings, progress=True)
    wall = time.perf_counter() - began
    print(report(tally, wall, "python benchmarks/fuzz.py " + " ".join(argv if argv is not None else sys.argv[1:])))
    return 0 if tally.ok() else 1


if __name__ == "__main__":
    raise SystemExit(main())
