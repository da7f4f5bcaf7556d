"""The CLI end to end: compile, explain, schema, rulesets; determinism; python -m recipec."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import COMPLETEP, LLAMA, ROOT, run_cli


def test_compile_writes_resolved_json(tmp_path):
    proc = run_cli("compile", str(LLAMA), "--size", "8b", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "resolved.json").read_text())
    assert data["size"] == "8b"
    assert data["classes"]["hidden"]["lr"]["value"] == pytest.approx(3e-3 / 16 * 4, rel=1e-12)
    assert data["classes"]["hidden"]["weight_decay"]["chain"][1]["ruleset"] == "fan2025"
    assert [p.name for p in tmp_path.iterdir()] == ["resolved.json"]  # no temporary files left behind


@pytest.mark.slow
def test_compile_is_byte_identical_across_runs_and_hash_seeds(tmp_path):
    outs = []
    for seed in ("0", "1", "12345"):
        out = tmp_path / seed
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = run_cli("compile", str(LLAMA), "--size", "70b", "--out", str(out), env=env)
        assert proc.returncode == 0, proc.stderr
        outs.append((out / "resolved.json").read_bytes())
    assert outs[0] == outs[1] == outs[2]


def test_compile_with_set_override(tmp_path):
    proc = run_cli("compile", str(LLAMA), "--size", "8b", "--set", "optimizer.lr=1e-3", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "resolved.json").read_text())
    assert data["classes"]["hidden"]["lr"]["proxy"] == 1e-3


def test_bad_input_leaves_no_output(tmp_path):
    proc = run_cli("compile", str(LLAMA), "--size", "nope", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert not (tmp_path / "o").exists()


def test_explain_table_and_only():
    proc = run_cli("explain", str(LLAMA), "--size", "8b", "--only", "hidden.weight_decay")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    row = [line for line in lines if line.startswith("hidden.weight_decay")]
    assert len(row) == 1
    assert "0.1" in row[0] and "0.4" in row[0] and "fan2025: width fan-in=16^0.5 → ×4" in row[0]
    assert not any(line.startswith("hidden.lr") for line in lines)


def test_explain_unknown_only_key_is_a_usage_error():
    proc = run_cli("explain", str(LLAMA), "--size", "8b", "--only", "hiden.lr")
    assert proc.returncode == 2
    assert "did you mean 'hidden.lr'?" in proc.stderr


def test_explain_json():
    proc = run_cli("explain", str(COMPLETEP), "--size", "xl", "--format", "json", "--only", "residual_multiplier")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["residual_multiplier"]["value"] == pytest.approx(4 / 48, rel=1e-12)


def test_rulesets_lists_every_builtin_with_source():
    proc = run_cli("rulesets", "--format", "json")
    assert proc.returncode == 0
    sets = {s["name"]: s for s in json.loads(proc.stdout)}
    required = {"fan2025", "mup-adamw", "mup-megatron", "completep", "adam-sqrt-batch", "sgd-linear-batch",
                "adamw-timescale", "deepseek-2024", "step-law-2025"}
    assert required <= set(sets)
    for s in sets.values():
        assert s["citation"] and s["url"]
    assert sets["completep"]["params"] == {"alpha": 1.0}
    text = run_cli("rulesets").stdout
    assert "arXiv:2510.15262" in text


def test_rulesets_name_shows_every_rule_with_its_exponent():
    proc = run_cli("rulesets", "completep")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("completep: CompleteP depth transfer")
    assert "source: Dey et al. 2025" in proc.stdout and "params: alpha=1" in proc.stdout
    header = next(i for i, line in enumerate(lines) if line.startswith("hp "))
    assert lines[header].split() == ["hp", "class", "kinds", "axis", "ratio", "exponent", "value"]
    rows = [line.split() for line in lines[header + 1:]]
    assert len(rows) == 9  # one per rule in rules/completep.yaml
    assert rows[0] == ["residual_multiplier", "global", "all", "depth", "-1", "(-alpha)"]
    assert rows[2] == ["lr", "vector", "norm,qk_norm,bias", "depth", "0", "(alpha", "-", "1)"]
    assert rows[4] == ["eps", "hidden", "all", "width", "width", "-1"]


@pytest.mark.slow
def test_rulesets_name_json_binds_the_default_params():
    data = json.loads(run_cli("rulesets", "fan2025", "--format", "json").stdout)
    assert data["name"] == "fan2025" and data["url"] == "https://arxiv.org/abs/2510.15262"
    wd = [r for r in data["rules"] if r["hp"] == "weight_decay" and r["class"] == "hidden"]
    assert wd == [{"hp": "weight_decay", "class": "hidden", "kinds": None, "axis": "width", "ratio": "fan_in",
                   "exponent": 0.5, "expression": None, "value": None, "note": wd[0]["note"]}]
    completep = json.loads(run_cli("rulesets", "completep", "--format", "json").stdout)
    assert completep["rules"][1]["expression"] == "alpha - 1" and completep["rules"][1]["exponent"] == 0.0
    law = json.loads(run_cli("rulesets", "step-law-2025", "--format", "json").stdout)
    assert law["formulas"][0] == {"hp": "lr", "class": "all", "coefficient": 1.79,
                                  "terms": {"params": -0.713, "tokens": 0.307}, "note": None}


def test_rulesets_unknown_name_is_a_usage_error():
    proc = run_cli("rulesets", "fan205")
    assert proc.returncode == 2
    assert proc.stderr == "error: NAME: unknown rule set 'fan205' (hint: did you mean 'fan2025'?)\n"


def test_rules_is_a_deprecated_alias_of_rulesets():
    from click.testing import CliRunner

    from recipec.cli import main

    old, new = CliRunner().invoke(main, ["rules", "completep"]), CliRunner().invoke(main, ["rulesets", "completep"])
    assert old.exit_code == 0 and old.stdout == new.stdout
    assert old.stderr == "recipec: 'rules' is renamed 'rulesets'\n" and new.stderr == ""
    assert "rules " not in CliRunner().invoke(main, ["--help"]).stdout  # hidden


def test_schema_command_prints_committed_schema():
    proc = run_cli("schema")
    assert proc.returncode == 0
    assert proc.stdout == (ROOT / "schemas" / "recipe.schema.json").read_text(encoding="utf-8")


def test_version_and_help():
    assert run_cli("--version").stdout.startswith("recipec, version ")
    assert run_cli("--help").returncode == 0


def test_examples_carry_schema_comment():
    for path in (ROOT / "examples").glob("*.yaml"):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first == "# yaml-language-server: $schema=../schemas/recipe.schema.json", path


@pytest.mark.parametrize("example,sizes", [(LLAMA, ["1b", "8b", "70b"]), (COMPLETEP, ["wide-deep", "xl"])])
@pytest.mark.slow
def test_examples_resolve_at_every_size(example, sizes):
    for size in sizes + ["proxy"]:
        proc = run_cli("explain", str(example), "--size", size)
        assert proc.returncode == 0, proc.stderr
        assert "warning" not in proc.stderr
