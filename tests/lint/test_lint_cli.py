"""`recipec lint` and `recipec checks`: exit codes, formats, GitHub auto-detection, config, suppressions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from recipec.cli import main

BAD_OVERRIDE = """\
name: t
model: {width: 256, depth: 4, head_dim: 64, ffn_multiplier: 4, vocab_size: 32000, seq_len: 1024, qk_norm: true}
optimizer: {name: adamw, lr: 3.0e-3, weight_decay: 0.1, wd_convention: coupled, grad_clip: null}
init: {parametrization: mup}
batch: {global_sequences: 32}
run: {tokens: 1_000_000_000}
transfer: [mup-adamw, completep, adam-sqrt-batch]
sizes:
  big:
    model: {width: 1024}
    batch: {global_sequences: 128}
    run: {tokens: 3_000_000_000}
    overrides:
      hidden: {lr: 1.0e-3}
"""


def run(args, env=None, cwd=None):
    runner = CliRunner()
    env = {"GITHUB_ACTIONS": "", **(env or {})}
    if cwd is not None:
        with runner.isolated_filesystem(temp_dir=cwd):
            return runner.invoke(main, args, env=env)
    return runner.invoke(main, args, env=env)


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    p = tmp_path / "recipe.yaml"
    p.write_text(BAD_OVERRIDE, encoding="utf-8")
    return p


def test_text_output_and_exit_1(recipe: Path) -> None:
    r = run(["lint", str(recipe)])
    assert r.exit_code == 1
    assert f"{recipe}:14:20: RC301 warning: sizes.big.overrides.hidden.lr: size 'big' sets hidden.lr" in r.output


def test_fail_on_error_passes_warnings(recipe: Path) -> None:
    assert run(["lint", "--fail-on", "error", str(recipe)]).exit_code == 0
    assert run(["lint", "--fail-on", "info", str(recipe)]).exit_code == 1


def test_github_format_is_auto_detected(recipe: Path) -> None:
    r = run(["lint", str(recipe)], env={"GITHUB_ACTIONS": "true"})
    assert r.output.startswith(f"::warning file={recipe},line=14,col=20,title=RC301 size-override::")
    r = run(["lint", "--format", "text", str(recipe)], env={"GITHUB_ACTIONS": "true"})
    assert r.output.startswith(str(recipe))


def test_json_and_output_file(recipe: Path, tmp_path: Path) -> None:
    out = tmp_path / "lint.sarif"
    r = run(["lint", "--format", "sarif", "-o", str(out), str(recipe)])
    assert r.exit_code == 1 and r.output == ""
    assert json.loads(out.read_text())["runs"][0]["results"][0]["ruleId"] == "RC301"
    data = json.loads(run(["lint", "--format", "json", str(recipe)]).output)
    assert [(d["code"], d["line"], d["column"]) for d in data] == [("RC301", 14, 20)]


def test_directories_are_walked_for_recipes(recipe: Path, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "other.yaml").write_text(BAD_OVERRIDE, encoding="utf-8")
    (tmp_path / "not-a-recipe.yaml").write_text("name: x\nrules: []\n", encoding="utf-8")
    data = json.loads(run(["lint", "--format", "json", str(tmp_path)]).output)
    assert sorted(Path(d["file"]).name for d in data) == ["other.yaml", "recipe.yaml"]


def test_missing_path_is_a_usage_error() -> None:
    r = run(["lint", "does/not/exist.yaml"])
    assert r.exit_code == 2
    assert "does/not/exist.yaml: no such file or directory" in r.output


def test_invalid_recipe_is_a_located_finding(tmp_path: Path) -> None:
    p = tmp_path / "broken.yaml"
    p.write_text(BAD_OVERRIDE.replace("lr: 3.0e-3", "lr: -1"), encoding="utf-8")
    r = run(["lint", str(p)])
    assert r.exit_code == 2  # a recipe that cannot be loaded: exit 2, not the findings code (issue 11)
    assert f"{p}:3:30: RC001 error: optimizer.lr: must be > 0 (got -1)" in r.output


def test_target_option(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    text = BAD_OVERRIDE.replace("    overrides:\n      hidden: {lr: 1.0e-3}\n", "")
    p.write_text(text.replace("grad_clip: null}", "grad_clip: null, z_loss: 1.0e-4}"), encoding="utf-8")
    assert run(["lint", str(p)]).exit_code == 0
    assert run(["lint", "--target", "torchtitan", str(p)]).exit_code == 1
    r = run(["lint", "--target", "hf", "--format", "json", str(p)])
    assert r.exit_code == 1
    # the z-loss, and the qk-norm that hf_train.py's HF Llama does not have (the renderer's note, the same list)
    findings = json.loads(r.output)
    assert [(d["code"], d["line"], d["column"]) for d in findings] == [("RC603", 2, 107), ("RC603", 3, 106)]
    assert "qk_norm is NOT applied" in findings[0]["message"] and "z_loss" in findings[1]["message"]


def _pyproject(folder: Path, body: str) -> Path:
    p = folder / "pyproject.toml"
    p.write_text("[project]\nname = 'x'\n\n[tool.recipec]\n" + body, encoding="utf-8")
    return p


def test_config_ignore_select_severity_and_options(recipe: Path, tmp_path: Path) -> None:
    cfg = _pyproject(tmp_path, 'ignore = ["RC301"]\n')
    assert run(["lint", "--config", str(cfg), str(recipe)]).exit_code == 0
    cfg = _pyproject(tmp_path, 'select = ["RC1", "RC2"]\n')
    assert run(["lint", "--config", str(cfg), str(recipe)]).exit_code == 0
    cfg = _pyproject(tmp_path, '[tool.recipec.severity]\nsize-override = "error"\n')
    r = run(["lint", "--config", str(cfg), "--fail-on", "error", str(recipe)])
    assert r.exit_code == 1 and "RC301 error" in r.output
    cfg = _pyproject(tmp_path, '[tool.recipec.options.RC302]\nmax-width-ratio = 2\n')
    assert "RC302" in run(["lint", "--config", str(cfg), str(recipe)]).output


def test_config_per_file_ignores_and_discovery(recipe: Path, tmp_path: Path) -> None:
    _pyproject(tmp_path, 'fail-on = "error"\n[tool.recipec.per-file-ignores]\n"*.yaml" = ["RC3"]\n')
    r = CliRunner().invoke(main, ["lint", "--fail-on", "info", str(recipe)], env={"GITHUB_ACTIONS": ""})
    assert "RC301" in r.output  # cwd is not under tmp_path: no config found
    import os

    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        r = CliRunner().invoke(main, ["lint", "--fail-on", "info", "recipe.yaml"], env={"GITHUB_ACTIONS": ""})
    finally:
        os.chdir(old)
    assert r.exit_code == 0 and r.output == ""


@pytest.mark.parametrize("body, message", [
    ('ignore = ["RC999"]\n', "tool.recipec.ignore: unknown rule code 'RC999'"),
    ('target = "jax"\n', "tool.recipec.target: must be one of neutral, torchtitan, megatron, hf (got 'jax')"),
    ('[tool.recipec.options.RC302]\nmax-ratio = 3\n', "tool.recipec.options.RC302.max-ratio: unknown option"),
    ('colour = 1\n', "tool.recipec.colour: unknown key"),
])
def test_bad_config_is_exit_2(recipe: Path, tmp_path: Path, body: str, message: str) -> None:
    cfg = _pyproject(tmp_path, body)
    r = run(["lint", "--config", str(cfg), str(recipe)])
    assert r.exit_code == 2
    assert message in r.output


def test_suppressions(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text(BAD_OVERRIDE.replace("hidden: {lr: 1.0e-3}", "hidden: {lr: 1.0e-3}  # recipec: disable=RC301"))
    assert run(["lint", "--fail-on", "info", str(p)]).exit_code == 0
    p.write_text("# recipec: disable-file=size-override\n" + BAD_OVERRIDE)
    assert run(["lint", "--fail-on", "info", str(p)]).exit_code == 0
    p.write_text("# recipec: disable-file=RC301, RC404\n" + BAD_OVERRIDE)
    r = run(["lint", str(p)])
    assert r.exit_code == 1
    assert (f"{p}:1:1: RC002 warning: unused suppression: RC404 (critical-batch) reports nothing in this file"
            in r.output)


def test_checks_command() -> None:
    r = run(["checks", "RC102"])
    assert r.exit_code == 0
    assert r.output.startswith("## RC102 hidden-wd-width")
    assert "**Anti-pattern**" in r.output and "arXiv:2510.15262" in r.output
    assert run(["checks", "size-override"]).output.startswith("## RC301 size-override")
    assert "RC603" in run(["checks"]).output
    r = run(["checks", "RC9"])
    assert r.exit_code == 2 and "no lint check 'RC9'" in r.output


def test_rule_is_a_deprecated_alias_of_checks() -> None:
    old, new = CliRunner().invoke(main, ["rule", "RC102"]), CliRunner().invoke(main, ["checks", "RC102"])
    assert old.exit_code == 0 and old.stdout == new.stdout
    assert old.stderr == "recipec: 'rule' is renamed 'checks'\n" and new.stderr == ""


def test_only_recipes_skips_named_non_recipes(recipe: Path, tmp_path: Path) -> None:
    other = tmp_path / "ci.yml"
    other.write_text("on: push\njobs: {}\n", encoding="utf-8")
    assert run(["lint", str(other)]).exit_code == 2  # named: linted, not a recipe: it cannot be loaded
    r = run(["lint", "--only-recipes", "--format", "json", str(other), str(recipe)])
    assert {Path(d["file"]).name for d in json.loads(r.output)} == {"recipe.yaml"}


def test_pre_commit_hooks_file(repo: Path) -> None:
    from ruamel.yaml import YAML

    hooks = YAML(typ="safe", pure=True).load((repo / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    by_id = {h["id"]: h for h in hooks}
    assert by_id["recipec-lint"]["entry"] == "recipec lint --only-recipes"
    assert by_id["recipec-compile-check"]["entry"] == "recipec compile --check"
    for h in hooks:
        assert {"id", "name", "entry", "language"} <= set(h)
