"""Issue 11 — never a traceback, never a torn output: every reproducer of the issue, as a table.

Each case runs one command and states its exit code and the one line it must print (a fragment, and
where the input is a file, the file:line:col it must start with). The hostile ones (a segfault, an
endless read) run in a subprocess with a timeout, the rest in-process with click's runner.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from recipec.cli import main
from tests.conftest import BASE, LLAMA, ROOT

LOC = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): ")
DIGITS_400 = "1" + "0" * 400
RULES_TEMPLATE = """\
name: myrules
title: t
source: {{citation: "x"}}
rules:
  - {{axis: width, class: hidden, hp: lr, exponent: "{exponent}"}}
"""


def _sub(old: str, new: str, text: str = BASE) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def _invoke(args: list[str]):
    result = CliRunner().invoke(main, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        raise AssertionError("traceback:\n" + "".join(traceback.format_exception(result.exception)))
    return result.exit_code, result.output


def _subprocess(args: list[str], timeout: float = 20):
    try:
        p = subprocess.run([sys.executable, "-m", "recipec", *map(str, args)], capture_output=True, text=True,
                           cwd=ROOT, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"recipec {' '.join(map(str, args))[:200]} did not return within {timeout} s") from None
    assert "Traceback" not in p.stderr, p.stderr
    return p.returncode, p.stdout + p.stderr


def _expect(code_out, code: int, fragment: str, at: str | None = None, line: int | None = None):
    code_got, out = code_out
    assert code_got == code, out
    assert "Traceback" not in out, out
    hits = [ln for ln in out.splitlines() if fragment in ln]
    assert hits, f"{fragment!r} not in:\n{out}"
    if at is not None:
        m = LOC.match(hits[0])
        assert m, f"not located: {hits[0]}"
        assert m["file"] == str(at), hits[0]
        if line is not None:
            assert int(m["line"]) == line, hits[0]
    return out


# --------------------------------------------------------------------------- 1. segfault


def test_01_deep_nesting_is_refused_before_composing(tmp_path):
    d = tmp_path / "d.yaml"
    d.write_text("a: " + "[" * 30000 + "]" * 30000 + "\n", encoding="utf-8")
    _expect(_subprocess(["explain", d]), 2, "nesting deeper than 64 levels", at=d, line=1)


def test_01_deep_block_nesting(tmp_path):
    d = tmp_path / "d.yaml"
    d.write_text("".join(" " * i + f"k{i}:\n" for i in range(200)) + " " * 200 + "x: 1\n", encoding="utf-8")
    _expect(_subprocess(["explain", d]), 2, "nesting deeper than 64 levels", at=d)


# --------------------------------------------------------------------------- 2. numbers the schema accepted

E = str(LLAMA)
NUMBER_CASES = [
    ("width-400-digits", ["explain", E, "-s", "8b", "--set", f"sizes.8b.model.width={DIGITS_400}"],
     "sizes.8b.model.width: must be ≤ 16777216"),
    ("vocab-400-digits", ["explain", E, "--set", f"model.vocab_size={'9' * 400}"],
     "model.vocab_size: must be ≤ 16777216"),
    ("completep-alpha-1000", ["explain", E, "-s", "8b", "--set", "transfer=[{name: completep, params: {alpha: 1000}}]"],
     "transfer[0].params: rule set 'completep' with alpha=1000: exponent '-alpha' is -1000, outside [-64, 64]"),
    ("lr-subnormal", ["explain", E, "--set", "optimizer.lr=5e-324"], "optimizer.lr: must be ≥ 1e-30 (got 5e-324)"),
    ("ffn-multiplier-1e308", ["explain", E, "--set", "model.ffn_multiplier=1e308"],
     "model.ffn_multiplier: must be ≤ 1024"),
    ("attn-logit-scale-megatron", ["compile", E, "--set", "init.attn_logit_scale=1e308", "-t", "megatron",
                                   "-o", "{out}"], "init.attn_logit_scale: must be ≤ 1e+30"),
    ("output-multiplier-torchtitan", ["compile", E, "--set", "init.output_multiplier=5e-324", "-t", "torchtitan", "-o",
                                      "{out}"], "init.output_multiplier: must be ≥ 1e-30"),
    ("run-tokens-huge", ["explain", E, "--set", f"run.tokens={DIGITS_400}"], "run.tokens: must be ≤ 9007199254740992"),
    ("rule-param-huge", ["explain", E, "--set", "transfer=[{name: completep, params: {alpha: 1e300}}]"],
     "transfer[0].params.alpha: must be ≤ 1e+30"),
]


@pytest.mark.parametrize("args, fragment", [c[1:] for c in NUMBER_CASES], ids=[c[0] for c in NUMBER_CASES])
def test_02_numbers_have_ranges(args, fragment, tmp_path):
    args = [a.replace("{out}", str(tmp_path / "out")) for a in args]
    out = _expect(_invoke(args), 2, fragment)
    assert out.splitlines()[0].startswith("--set "), out  # blamed on the command line, where the value came from
    assert not (tmp_path / "out").exists()


def test_02_ffn_that_rounds_to_zero(write_recipe):
    """Found by benchmarks/fuzz.py: a tiny ffn_multiplier rounded the MLP to 0 and divided by it."""
    recipe = write_recipe(_sub("ffn_multiplier: 4", "ffn_multiplier: 3.5e-30"))
    _expect(_invoke(["explain", recipe]), 2, "model.ffn_multiplier: the MLP hidden size at width 256 would be 0",
            at=recipe, line=6)


def test_02_many_sizes_and_nodes_are_bounded(write_recipe):
    sizes = "".join(f"  s{i}:\n    model: {{width: 512}}\n" for i in range(300))
    recipe = write_recipe(BASE + sizes)
    _expect(_invoke(["lint", recipe]), 2, "sizes: must have at most 256 item(s)", at=recipe)
    recipe = write_recipe("a: [" + ",".join(["1"] * 60000) + "]\n")
    _expect(_invoke(["explain", recipe]), 2, "document has more than 50000 nodes", at=recipe, line=1)


def test_02_transferred_value_out_of_range_is_located(write_recipe):
    """A rule set that drives a value past the range fails at the rule set's entry in `transfer`."""
    rules = write_recipe(RULES_TEMPLATE.format(exponent="60"), name="steep.yaml")
    recipe = write_recipe(_sub("transfer: [fan2025]", f"transfer: [{rules}]"))
    _expect(_invoke(["explain", recipe, "-s", "big"]), 2, "hidden.lr at size 'big': myrules (width ratio 16^60)",
            at=recipe, line=20)


def test_02_warmup_steps_400_digits_under_lint(write_recipe):
    recipe = write_recipe(BASE + f"schedule:\n  warmup: {{steps: {DIGITS_400}}}\n")
    _expect(_invoke(["lint", recipe]), 2, "RC001 error: schedule.warmup.steps: must be ≤ 9007199254740992",
            at=recipe, line=25)


# --------------------------------------------------------------------------- 3. custom rule sets


@pytest.mark.parametrize("exponent, fragment", [
    ("9**9**9", "is too large"),
    ("10**400", "is too large"),
    ("(-1)**0.5", "is not a real number"),
    ("2**100", "outside [-64, 64]"),
])
def test_03_rule_set_exponents(exponent, fragment, write_recipe):
    rules = write_recipe(RULES_TEMPLATE.format(exponent=exponent), name="my-rules.yaml")
    recipe = write_recipe(_sub("transfer: [fan2025]", f"transfer: [{rules}]"))
    _expect(_invoke(["explain", recipe, "-s", "big"]), 2, fragment, at=rules, line=5)


def test_03_long_rule_set_names(write_recipe):
    recipe = write_recipe(_sub("transfer: [fan2025]", f"transfer: [{'a' * 300}]"))
    _expect(_invoke(["explain", recipe]), 2, "transfer[0]: unknown rule set 'aaaa", at=recipe, line=20)
    recipe = write_recipe(_sub("transfer: [fan2025]", f"transfer: [{'a' * 300}.yaml]"))
    _expect(_invoke(["explain", recipe]), 2, "File name too long", at=recipe, line=20)


# --------------------------------------------------------------------------- 4. output errors


def test_04_output_errors(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x\n", encoding="utf-8")
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    cases = [
        (["compile", E, "-o", "/dev/null"], "/dev/null: cannot write the outputs here: a character device"),
        (["compile", E, "-o", afile / "sub"], "sub: cannot write the outputs here: Not a directory"),
        (["compile", E, "-o", "/proc/x"], "/proc/x: cannot write"),
        (["compile", E, "-o", tmp_path / "loop1"], "a loop of symbolic links"),
        (["lint", E, "--output", "/proc/x/report"], "/proc/x/report: cannot write"),
        (["lint", E, "--output", tmp_path / "loop1"], "a loop of symbolic links"),
        (["schema", "--write", "/proc/x"], "/proc/x/recipe.schema.json: cannot write"),
    ]
    for args, fragment in cases:
        _expect(_invoke(args), 2, fragment)


def test_04_unwritable_places(tmp_path, monkeypatch):
    """A directory that cannot be written (simulated: the tests may run as root, who may write anywhere)."""
    import errno
    import tempfile

    def refuse(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    _expect(_invoke(["compile", E, "-o", tmp_path / "new"]), 2, "new: cannot write: Permission denied")
    _expect(_invoke(["lint", E, "--output", tmp_path / "report.txt"]), 2, "report.txt: cannot write: Permission denied")
    _expect(_invoke(["schema", "--write", tmp_path / "schemas"]), 2, "recipe.schema.json: cannot write: Permission")
    # OUT exists and is writable but its parent is not: written file by file, still complete
    monkeypatch.undo()
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    assert _invoke(["compile", E, "-o", out, "-t", "neutral"])[0] == 0
    assert sorted(p.name for p in out.iterdir()) == ["param_groups.json", "resolved.json"]


def test_04_output_path_that_is_a_directory_even_with_force(tmp_path):
    out = tmp_path / "out"
    (out / "resolved.json").mkdir(parents=True)
    _expect(_invoke(["compile", E, "-o", out, "--force"]), 2,
            "resolved.json is a directory; recipec replaces only regular files")
    assert (out / "resolved.json").is_dir()


# --------------------------------------------------------------------------- 5. special files


def test_05_character_device_is_written_not_replaced(tmp_path):
    fake = tmp_path / "fakenull"
    try:
        os.mknod(fake, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("mknod needs root")
    code, _ = _invoke(["lint", E, "--output", fake])
    assert code == 0
    assert stat.S_ISCHR(os.lstat(fake).st_mode)  # still the device, not an empty regular file


def test_05_fifo_output(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    _expect(_invoke(["lint", E, "--output", fifo, "--format", "json"]), 2, "the FIFO has no reader")
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
    reader.start()
    import time

    time.sleep(0.2)  # let the reader open its end
    code, _ = _invoke(["lint", E, "--output", fifo, "--format", "json"])
    reader.join(10)
    assert code == 0 and isinstance(json.loads(got[0]), list)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_05_symlinked_output_keeps_the_link(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("old\n", encoding="utf-8")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    assert _invoke(["lint", E, "--output", link, "--format", "json"])[0] == 0
    assert link.is_symlink() and isinstance(json.loads(real.read_text(encoding="utf-8")), list)


# --------------------------------------------------------------------------- 6. unbounded reads


@pytest.mark.parametrize("source", ["/dev/zero", "/dev/urandom", "fifo"])
def test_06_reads_regular_files_only(source, tmp_path):
    if source == "fifo":
        source = tmp_path / "fifo.yaml"
        os.mkfifo(source)
    _expect(_subprocess(["explain", source], timeout=20), 2, "is not a regular file")


@pytest.mark.slow
def test_06_output_dir_whose_resolved_json_is_a_link_to_dev_zero(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "resolved.json").symlink_to("/dev/zero")
    _expect(_subprocess(["compile", E, "-o", out], timeout=20), 2, "is a symbolic link; recipec replaces only regular")
    _expect(_subprocess(["compile", E, "-o", out, "--check"], timeout=20), 1, "is a symbolic link, not a regular file")


# --------------------------------------------------------------------------- 7. --set


@pytest.mark.parametrize("assignment, fragment", [
    (".=1", "'.' is not a config path"),
    ("a..b=1", "'a..b' is not a config path"),
    (f"model.width={'9' * 5000}", "the value is too long (5000 characters"),
    ("a.b=1", "--set a.b=1: a: unknown key"),
    ("optimizer.lr.x=1", "optimizer.lr: cannot set inside a number"),
])
def test_07_set_parser(assignment, fragment):
    out = _expect(_invoke(["explain", E, "--set", assignment]), 2, fragment)
    assert out.startswith("--set "), out
    assert ":1:1:" not in out


# --------------------------------------------------------------------------- 8. lint --config


@pytest.mark.parametrize("body, fragment, line", [
    (b"\x97\xff\x00binary", "not valid UTF-8 (byte 0x97)", 1),
    (b'tool = "x"\n', "tool: must be a table", 1),
    (b"[tool]\nrecipec = 5\n", "tool.recipec: must be a table", 2),
    (b"[tool.recipec.options.RC302]\nmax-width-ratio = nan\n", "max-width-ratio: must be a finite number > 0", 2),
    (b"[tool.recipec.options.RC302]\nmax-width-ratio = -1\n", "max-width-ratio: must be a finite number > 0", 2),
    (b"[tool.recipec.options.RC302]\nmax-width-ratio = true\n", "max-width-ratio: must be a number (got True)", 2),
    (b"[tool.recipec]\nselect = 5\n", "tool.recipec.select: must be a list of rule codes", 2),
    (b"[tool.recipec]\nfail-on = [1]\n", "tool.recipec.fail-on: must be one of error, warning, info", 2),
])
def test_08_lint_config(body, fragment, line, tmp_path):
    cfg = tmp_path / "pyproject.toml"
    cfg.write_bytes(body)
    _expect(_invoke(["lint", E, "--config", cfg]), 2, fragment, at=cfg, line=line)


# --------------------------------------------------------------------------- 9. located everywhere


def test_09_render_errors_are_located(write_recipe):
    recipe = write_recipe(_sub("  name: adamw", "  name: sgd"))
    _expect(_invoke(["compile", recipe, "-t", "hf", "-o", recipe.parent / "out"]), 2,
            "optimizer.name: hf target: optimizer 'sgd' is not rendered yet", at=recipe, line=10)


def test_09_nul_is_refused_where_it_is(write_recipe):
    recipe = write_recipe(_sub("name: t", 'name: "t\\0x"'))
    _expect(_invoke(["compile", recipe, "-t", "neutral", "-l", "torchrun", "-o", recipe.parent / "out"]), 2,
            "name: a NUL character (\\0) is not allowed", at=recipe, line=1)


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b"])
def test_09_control_characters_at_their_line(char, write_recipe):
    recipe = write_recipe(_sub("  depth: 4", f"  depth: 4{char}"))
    out = _expect(_invoke(["explain", recipe]), 2, "is not allowed", at=recipe, line=4)
    assert "position" not in out and "<unicode string>" not in out


@pytest.mark.parametrize("key", ["a\nb", "a\u2028b", "a\rb"])
def test_09_echoed_keys_stay_on_one_line(key, write_recipe):
    escaped = json.dumps(key)  # a double-quoted YAML key with the escape
    recipe = write_recipe(BASE + f"{escaped}: 1\n")
    code, out = _invoke(["explain", recipe])
    assert code == 2
    lines = [ln for ln in out.splitlines() if "unknown key" in ln]
    assert len(lines) == 1 and LOC.match(lines[0]) and key not in lines[0], out
    assert "\u2028" not in out and "\r" not in out
    for fmt in ("text", "github"):
        code, out = _invoke(["lint", recipe, "--format", fmt])
        assert code == 2 and len([ln for ln in out.splitlines() if "unknown key" in ln]) == 1, out


# --------------------------------------------------------------------------- 10. one batch check


BATCH = ["--set", "batch.micro_batch=48"]
BATCH_MESSAGE = "batch.micro_batch: a global batch of 32 sequences does not divide into micro batches of 48 on 8"


@pytest.mark.parametrize("command", ["explain", "estimate", "torchtitan", "megatron", "hf", "neutral"])
def test_10_one_batch_check_everywhere(command, write_recipe):
    recipe = write_recipe(_sub("  global_sequences: 32", "  global_sequences: 32\n  micro_batch: 48"))
    args = ([command, recipe] if command in ("explain", "estimate")
            else ["compile", recipe, "-t", command, "-o", recipe.parent / "out"])
    _expect(_invoke(args), 2, BATCH_MESSAGE, at=recipe, line=18)
    assert not (recipe.parent / "out").exists()


def test_10_batch_check_in_lint_is_a_located_finding(write_recipe):
    recipe = write_recipe(_sub("  global_sequences: 32", "  global_sequences: 32\n  micro_batch: 48"))
    code, out = _invoke(["lint", recipe, "--format", "json"])
    found = [d for d in json.loads(out) if d["code"] == "RC001"]
    assert code == 2 and found and found[0]["line"] == 18, out
    assert f'{found[0]["path"]}: {found[0]["message"]}'.startswith(BATCH_MESSAGE)
    # at a size: a finding about that size; the recipe itself loads
    recipe = write_recipe(_sub("    model: {width: 4096}", "    model: {width: 4096}\n    batch: {micro_batch: 48}"))
    code, out = _invoke(["lint", recipe])
    assert code == 1 and "size 'big': a global batch of 32 sequences does not divide" in out


# --------------------------------------------------------------------------- 11. exit codes


def test_11_lint_on_a_recipe_that_cannot_be_loaded_exits_2(write_recipe):
    recipe = write_recipe(_sub("lr: 3.0e-3", "lr: -1"))
    out = _expect(_invoke(["lint", recipe]), 2, "RC001 error: optimizer.lr: must be > 0 (got -1)", at=recipe)
    assert "1 error" in out  # the report is still written


# --------------------------------------------------------------------------- 12. atomic output sets


def _set(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_12_failure_while_writing_leaves_the_old_set(tmp_path):
    from recipec.render import RenderedFile, write_outputs

    out = tmp_path / "out"
    old = [RenderedFile(f"f{i}.txt", f"# generated by recipec\nold {i}\n") for i in range(5)]
    new = [RenderedFile(f"f{i}.txt", f"# generated by recipec\nnew {i}\n") for i in range(5)]
    write_outputs(old, out)
    before = _set(out)
    with pytest.raises(RuntimeError):
        write_outputs(new, out, _fail_after=3)
    assert _set(out) == before
    assert not [p for p in tmp_path.iterdir() if "recipec-staging" in p.name]


def test_12_leftovers_of_killed_runs_are_removed(tmp_path):
    out = tmp_path / "out"
    assert _invoke(["compile", E, "-o", out])[0] == 0
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale = tmp_path / f".out.recipec-staging-{dead}-abc"
    (stale / "sub").mkdir(parents=True)
    old_style = out / ".recipec-tmp-xyz"
    old_style.mkdir()
    assert _invoke(["compile", E, "-o", out])[0] == 0
    assert not stale.exists() and not old_style.exists()


def test_12_kill_during_the_swap_leaves_a_complete_set(tmp_path):
    """SIGKILL while the new set is being staged and swapped (renames slowed): old or new, never a mix."""
    out = tmp_path / "out"
    assert _invoke(["compile", E, "-o", out, "-t", "neutral"])[0] == 0
    old = _set(out)
    script = ("import os, sys, time, recipec.render.writer as w\n"
              "orig = w._exchange\n"
              "def slow(a, b):\n"
              "    print('swapping', flush=True); time.sleep(30); orig(a, b)\n"
              "w._exchange = slow\n"
              "from recipec.cli import main\n"
              "sys.argv = ['recipec', 'compile', sys.argv[1], '-o', sys.argv[2], '-t', 'neutral', '--set',"
              " 'optimizer.lr=0.001']\n"
              "main()\n")
    p = subprocess.Popen([sys.executable, "-c", script, E, str(out)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "swapping"
    p.kill()
    p.wait()
    assert _set(out) == old
    assert [x for x in tmp_path.iterdir() if "recipec-staging" in x.name]  # the kill left its staging directory
    assert _invoke(["compile", E, "-o", out, "-t", "neutral", "--set", "optimizer.lr=0.001"])[0] == 0
    assert not [x for x in tmp_path.iterdir() if "recipec-staging" in x.name]
    assert _set(out) != old


def test_12_check_compares_the_executable_bit(tmp_path):
    out = tmp_path / "out"
    args = ["compile", E, "-o", out, "-t", "torchtitan", "-l", "torchrun"]
    assert _invoke(args)[0] == 0
    assert _invoke(args + ["--check"])[0] == 0
    script = out / "launch_torchtitan_torchrun.sh"
    script.chmod(0o644)
    _expect(_invoke(args + ["--check"]), 1, "launch_torchtitan_torchrun.sh: mode differs (should be executable)")
    script.chmod(0o755)
    (out / "resolved.json").chmod(0o755)
    _expect(_invoke(args + ["--check"]), 1, "resolved.json: mode differs (should not be executable)")


# --------------------------------------------------------------------------- 13. empty paths


@pytest.mark.parametrize("args, fragment", [
    (["lint", ""], "the path is empty"),
    (["compile", E, "-o", ""], "the path is empty"),
    (["explain", ""], "the path is empty"),
    (["lint", E, "--output", ""], "the path is empty"),
    (["schema", "--write", ""], "the path is empty"),
    (["explain", "a\x00b"], "the path contains a NUL character"),
    (["compile", E, "-o", "out\x00"], "the path contains a NUL character"),
    (["lint", E, "--config", "x\x00"], "the path contains a NUL character"),
])
def test_13_empty_paths_are_refused(args, fragment, tmp_path):
    before = sorted(os.listdir(tmp_path))
    os.chdir(tmp_path)
    try:
        _expect(_invoke(args), 2, fragment)
    finally:
        os.chdir(ROOT)
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("option, value", [("--micro-batch", str(10**400)), ("--gpus", str(10**30)),
                                           ("--mfu", "nan"), ("--mfu", "1e-300")])
def test_11_estimate_options_have_ranges(option, value):
    _expect(_invoke(["estimate", E, "-s", "8b", option, value]), 2, f"Invalid value for '{option}': must be between")


# --------------------------------------------------------------------------- 14. provenance of --set


def test_14_overrides_are_recorded_beside_the_sha256(tmp_path):
    out = tmp_path / "out"
    sets = ["--set", "optimizer.lr=0.001", "--set", "sizes.8b.batch.global_sequences=512"]
    assert _invoke(["compile", E, "-s", "8b", "-o", out, "-t", "torchtitan", "-t", "neutral", *sets])[0] == 0
    data = json.loads((out / "resolved.json").read_text(encoding="utf-8"))
    assert data["recipe_overrides"] == [{"key": "optimizer.lr", "value": "0.001"},
                                        {"key": "sizes.8b.batch.global_sequences", "value": "512"}]
    head = (out / "recipec_torchtitan.py").read_text(encoding="utf-8").splitlines()[:6]
    assert '# override: --set "optimizer.lr"="0.001"' in head, head
    groups = json.loads((out / "param_groups.json").read_text(encoding="utf-8"))
    assert groups["source"]["overrides"] == data["recipe_overrides"]
