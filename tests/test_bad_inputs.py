"""Bad input: every case exits 2 with file:line:col (and the config path where one exists), no traceback."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from recipec.cli import main
from tests.conftest import BASE, run_cli

LOC = re.compile(r"^(?P<file>[^\s:]+):(?P<line>\d+):(?P<col>\d+): (?P<rest>.*)$")


def sub(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


# (id, recipe text or bytes, extra CLI args, expected config path or None, expected message fragment, line)
CASES = [
    ("yaml-syntax", "name: [t\n", [], None, "expected ',' or ']'", 2),
    ("yaml-bad-indent", "name: t\n model: x\n  y: 1\n", [], None, "YAML error", 2),
    ("yaml-tab", "name: t\nmodel:\n\twidth: 1\n", [], None, "YAML error", 3),
    ("empty", "", [], None, "the recipe is empty", 1),
    ("top-level-list", "- a\n- b\n", [], None, "must be a mapping at the top level", 1),
    ("wrong-type-width", sub("width: 256", "width: wide"), [], "model.width", "must be an integer (got 'wide')", 3),
    ("float-width", sub("width: 256", "width: 256.5"), [], "model.width", "must be an integer (got 256.5)", 3),
    ("bool-for-number", sub("lr: 3.0e-3", "lr: true"), [], "optimizer.lr", "must be a number (got True)", 11),
    ("unknown-key", sub("  lr: 3.0e-3", "  lr: 3.0e-3\n  lrr: 1"), [], "optimizer.lrr", "unknown key", 12),
    ("unknown-top-key", BASE + "extra: 1\n", [], "extra", "unknown key", 24),
    ("negative-wd", sub("weight_decay: 0.1", "weight_decay: -0.1"), [], "optimizer.weight_decay",
     "must be ≥ 0 (got -0.1)", 12),
    ("zero-width", sub("width: 256", "width: 0"), [], "model.width", "must be > 0 (got 0)", 3),
    ("negative-depth", sub("depth: 4", "depth: -4"), [], "model.depth", "must be > 0 (got -4)", 4),
    ("zero-lr", sub("lr: 3.0e-3", "lr: 0"), [], "optimizer.lr", "must be > 0 (got 0)", 11),
    ("nan-lr", sub("lr: 3.0e-3", "lr: .nan"), [], "optimizer.lr", "must be a finite number (got nan)", 11),
    ("inf-lr", sub("lr: 3.0e-3", "lr: .inf"), [], "optimizer.lr", "must be a finite number (got inf)", 11),
    ("width-not-divisible", sub("width: 256", "width: 250"), [], "model.width",
     "width 250 is not divisible by head_dim 64", 3),
    ("size-width-not-divisible", sub("model: {width: 4096}", "model: {width: 4000}"), [], "sizes.big.model.width",
     "width 4000 is not divisible by head_dim 64", 23),
    ("heads-and-head-dim", sub("head_dim: 64", "head_dim: 64\n  heads: 4"), [], "model",
     "give only one of 'heads' or 'head_dim'", 3),
    ("missing-required", sub("  vocab_size: 1024\n", ""), [], "model.vocab_size", "required key is missing", 3),
    ("missing-section", sub("batch:\n  global_sequences: 32\n", ""), [], "batch", "required key is missing", 1),
    ("bad-literal", sub("name: adamw", "name: lion"), [], "optimizer.name",
     "must be one of 'adamw', 'adam' or 'sgd'", 10),
    ("wd-without-convention", sub("  wd_convention: coupled\n", ""), [], "optimizer",
     "weight decay is set but 'wd_convention' is missing", 10),
    ("beta-out-of-range", sub("  wd_convention: coupled\n", "  wd_convention: coupled\n  betas: [0.9, 1.5]\n"), [],
     "optimizer.betas[1]", "must be ≤ 1 (got 1.5)", 14),
    ("batch-both", sub("global_sequences: 32", "global_sequences: 32\n  global_tokens: 8192"), [], "batch",
     "give only one of 'global_tokens' or 'global_sequences'", 17),
    ("unknown-rule-set", sub("transfer: [fan2025]", "transfer: [fan2052]"), [], "transfer[0]",
     "unknown rule set 'fan2052'", 20),
    ("missing-rule-file", sub("transfer: [fan2025]", "transfer: [./nope.yaml]"), [], "transfer[0]",
     "rule-set file './nope.yaml' not found", 20),
    ("conflicting-rule-sets", sub("transfer: [fan2025]", "transfer: [fan2025, mup-adamw]"), [], "transfer[1]",
     "rule sets conflict on (width, hidden, weight_decay): rules/mup-adamw.yaml sets exponent 1 on the fan-in ratio "
     "but rules/fan2025.yaml sets exponent 0.5 on the fan-in ratio", 20),
    ("unknown-rule-param", sub("transfer: [fan2025]", "transfer: [{name: completep, params: {beta: 1}}]"), [],
     "transfer[0].params.beta", "rule set 'completep' has no parameter 'beta'", 20),
    ("unknown-size", BASE, ["--size", "huge"], "sizes", "no size named 'huge'", 22),
    ("bad-size-name", sub("  big:", "  'big size':"), [], "sizes.big size", "is not a valid name", 23),
    ("size-named-proxy", sub("  big:", "  proxy:"), [], "sizes.proxy",
     "size name 'proxy' is reserved for the proxy itself", 23),
    ("python-tag", sub("name: t", "name: !!python/object/apply:os.system ['touch PWNED']"), [], "name",
     "YAML tag !!python/object/apply:os.system is not allowed", 1),
    ("custom-tag", sub("width: 256", "width: !big 256"), [], "model.width", "YAML tag !big is not allowed", 3),
    ("duplicate-key", sub("  depth: 4", "  depth: 4\n  depth: 8"), [], "model.depth",
     'YAML error: duplicate key "depth"', 5),
    ("non-utf8", BASE.encode() + b"description: caf\xe9\n", [], None, "not valid UTF-8 (byte 0xe9)", 24),
    ("huge-file", BASE + "description: |\n" + ("  " + "x" * 1000 + "\n") * 1100, [], None, "file is too large", 1),
    ("alias-bomb", "name: t\na: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n", [], None,
     "alias expansion is bounded", 0),
    ("set-bad-value", BASE, ["--set", "optimizer.lr=abc"], "optimizer.lr", "must be a number (got 'abc')", None),
    ("set-no-equals", BASE, ["--set", "optimizer.lr"], None, "expected KEY.PATH=VALUE", None),
    ("kv-heads-not-dividing", sub("head_dim: 64", "head_dim: 64\n  kv_heads: 3"), [], "model.kv_heads",
     "heads 4 is not divisible by kv_heads 3", 6),
    ("cluster-not-dividing", BASE + "cluster: {gpus_per_node: 8, tensor_parallel: 3}\n", ["--size", "big"], "cluster",
     "8 GPUs do not divide into tensor × pipeline × context parallel = 3", 24),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_exits_2_located(case, write_recipe):
    _id, text, args, path, fragment, line = case
    recipe = write_recipe(text)
    result = CliRunner().invoke(main, ["explain", str(recipe), *args])
    out = result.output
    assert result.exit_code == 2, out
    assert result.exception is None or isinstance(result.exception, SystemExit), out
    assert "Traceback" not in out
    first = out.strip().splitlines()[0]
    assert fragment in first, first
    if line is None:  # --set errors are located at the command-line argument
        assert first.startswith("--set "), first
        return
    m = LOC.match(first)
    assert m, f"not located: {first}"
    assert m["file"] == str(recipe)
    if line:
        assert int(m["line"]) == line, first
    if path is not None:
        assert f": {path}: " in first, first


def test_at_least_30_bad_inputs():
    assert len(CASES) >= 30


# Exact messages for a representative handful, through a real subprocess (no traceback, exit 2).
EXACT = [
    (sub("weight_decay: 0.1", "weight_decay: -0.1"), [], "{f}:12:17: optimizer.weight_decay: must be ≥ 0 (got -0.1)"),
    (sub("  lr: 3.0e-3", "  lr: 3.0e-3\n  lrr: 1"), [],
     "{f}:12:3: optimizer.lrr: unknown key (hint: did you mean 'lr'?)"),
    (sub("width: 256", "width: 250"), [], "{f}:3:10: model.width: width 250 is not divisible by head_dim 64"),
    (sub("  depth: 4", "  depth: 4\n  depth: 8"), [],
     '{f}:5:3: model.depth: YAML error: duplicate key "depth" (a key may appear once in a mapping)'),
    (BASE, ["--size", "bgi"], "{f}:22:3: sizes: no size named 'bgi' (hint: did you mean 'big'?)"),
    (sub("transfer: [fan2025]", "transfer: [fan2025, mup-adamw]"), [],
     "{f}:20:21: transfer[1]: rule sets conflict on (width, hidden, weight_decay): rules/mup-adamw.yaml sets "
     "exponent 1 on the fan-in ratio but rules/fan2025.yaml sets exponent 0.5 on the fan-in ratio "
     "(hint: remove one of them or write a rule file that combines them)"),
]


@pytest.mark.parametrize("text,args,expected", EXACT)
def test_exact_messages(text, args, expected, write_recipe):
    recipe = write_recipe(text)
    proc = run_cli("explain", str(recipe), *args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == expected.format(f=recipe) + "\n"


def test_usage_error_exits_2():
    proc = run_cli("explain")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    proc = run_cli("compile", "examples/llama-proxy.yaml", "--size", "8b")  # --out missing
    assert proc.returncode == 2 and "--out" in proc.stderr


def test_missing_file_exits_2():
    proc = run_cli("explain", "no/such/recipe.yaml")
    assert proc.returncode == 2
    assert proc.stderr == "no/such/recipe.yaml: file not found\n"
