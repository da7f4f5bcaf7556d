"""Hostile recipe strings come out literally: scripts parse, pass shellcheck, and dry runs touch nothing."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess

import pytest
import yaml
from click.testing import CliRunner
from golden_cases import LAUNCHERS, ROOT, TARGETS

from recipec.cli import main
from recipec.render.env import yaml_scalar

HOSTILE = ("x$(touch PWNED)`touch PWNED2`; touch PWNED3 && echo \"'\\ \n#{{ 7*7 }}{% raw %}{{ r }}"
           "{% endraw %}${HOME}\u2028\u0085\x7f\x80\ufeff\t😀end")
HOSTILE_DIR = "dir $(touch PWNED) `touch PWNED2`; 'q\" {{ 7*7 }}\nline"
PAYLOAD_FILES = ("PWNED", "PWNED2", "PWNED3")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    src = base / HOSTILE_DIR
    src.mkdir()
    text = (ROOT / "examples" / "llama-proxy.yaml").read_text(encoding="utf-8")
    text = text.replace("name: llama3-proxy-256", f"name: {yaml_scalar(HOSTILE)}", 1)
    text = text.replace("  gpus_per_node: 8\n", f"  gpus_per_node: 8\n  gpu: {json.dumps('h100; $(touch PWNED)')}\n", 1)
    recipe = src / "recipe $(touch PWNED).yaml"
    recipe.write_text(text, encoding="utf-8")
    outs = {}
    for launcher in LAUNCHERS:
        out = base / f"out {launcher} $(touch PWNED)"
        args = ["compile", str(recipe), "--size", "8b", "--launcher", launcher, "--out", str(out),
                "--launch-arg", HOSTILE, "--launch-env", f"RECIPEC_DATA={HOSTILE}", "--image", HOSTILE,
                "--k8s-volume", "corpus:/data"]
        for t in TARGETS:
            args += ["--target", t]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        outs[launcher] = out
    return base, outs, str(recipe)


def _scripts(outs):
    return [p for out in outs.values() for p in sorted(out.iterdir()) if p.suffix in (".sh", ".sbatch")]


def _no_payload_ran(base):
    for name in PAYLOAD_FILES:
        assert not list(base.rglob(name)), f"a payload created {name}"


def test_scripts_pass_bash_n(outputs):
    base, outs, _ = outputs
    scripts = _scripts(outs)
    assert len(scripts) == 6
    for script in scripts:
        subprocess.run(["bash", "-n", str(script)], check=True)
        assert script.read_text(encoding="utf-8").splitlines()[0] == "#!/usr/bin/env bash"
        assert "\nset -euo pipefail\n" in script.read_text(encoding="utf-8")


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed (.ci installs it)")
def test_scripts_pass_shellcheck(outputs):
    _, outs, _ = outputs
    for script in _scripts(outs):
        result = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, f"{script.name}:\n{result.stdout}"


def test_dry_run_creates_nothing_and_values_are_literal(outputs, tmp_path):
    base, outs, _ = outputs
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "RECIPEC_"))}
    for script in _scripts(outs):
        cwd = tmp_path / script.name
        cwd.mkdir()
        result = subprocess.run(["bash", str(script)], cwd=cwd, env=dict(env, RECIPEC_DRY_RUN="1"),
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert "torchrun" in result.stdout
        assert list(cwd.iterdir()) == []
        # Source the script and read the exported run name back at exit: it must be the recipe's name.
        probe = cwd / "name.out"
        subprocess.run(["bash", "-c", 'trap \'printf %s "$RECIPEC_RUN_NAME" > "$PROBE"\' EXIT; source "$0"',
                        str(script)], cwd=cwd, env=dict(env, RECIPEC_DRY_RUN="1", PROBE=str(probe)),
                       capture_output=True, check=True)
        assert probe.read_text(encoding="utf-8") == HOSTILE
        probe.unlink()
        subprocess.run(["bash", "-c", 'trap \'printf %s "$RECIPEC_DATA" > "$PROBE"\' EXIT; source "$0"',
                        str(script)], cwd=cwd, env=dict(env, RECIPEC_DRY_RUN="1", PROBE=str(probe)),
                       capture_output=True, check=True)
        assert probe.read_text(encoding="utf-8") == HOSTILE
        probe.unlink()
    _no_payload_ran(base)
    _no_payload_ran(tmp_path)


def test_python_outputs_parse_and_carry_the_name_literally(outputs):
    _, outs, recipe = outputs
    for out in outs.values():
        for p in out.glob("*.py"):
            tree = ast.parse(p.read_text(encoding="utf-8"))
            if p.name == "recipec_torchtitan.py":
                names = {n.targets[0].id: ast.literal_eval(n.value) for n in tree.body
                         if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name)
                         and n.targets[0].id == "RECIPE_NAME"}
                assert names == {"RECIPE_NAME": HOSTILE}
        header = (out / "recipec_torchtitan.py").read_text(encoding="utf-8").splitlines()[1]
        assert header == f"# source: {json.dumps(recipe, ensure_ascii=False)} sha256 " + header.rsplit(" ", 1)[1]


def test_yaml_and_json_outputs_carry_the_name_literally(outputs):
    _, outs, recipe = outputs
    for _launcher, out in outs.items():
        args = yaml.safe_load((out / "hf_training_args.yaml").read_text(encoding="utf-8"))
        assert args["run_name"] == HOSTILE
        groups = json.loads((out / "param_groups.json").read_text(encoding="utf-8"))
        assert groups["recipe"] == HOSTILE and groups["source"]["path"] == recipe
        for job in out.glob("pytorchjob_*.yaml"):
            doc = yaml.safe_load(job.read_text(encoding="utf-8"))
            assert re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", doc["metadata"]["name"])
            for spec in doc["spec"]["pytorchReplicaSpecs"].values():
                container = spec["template"]["spec"]["containers"][0]
                env = {e["name"]: e["value"] for e in container["env"]}
                assert env["RECIPEC_RUN_NAME"] == HOSTILE and env["RECIPEC_DATA"] == HOSTILE
                assert container["args"] == [HOSTILE] and container["image"] == HOSTILE
                claims = [v["persistentVolumeClaim"]["claimName"] for v in spec["template"]["spec"]["volumes"]
                          if "persistentVolumeClaim" in v]
                assert claims == ["corpus"]


def test_jinja_payloads_come_out_literally(outputs):
    _, outs, _ = outputs
    for out in outs.values():
        for name in ("recipec_torchtitan.py", "hf_training_args.yaml", "param_groups.json"):
            text = out.joinpath(name).read_text(encoding="utf-8")
            assert "{{ 7*7 }}{% raw %}{{ r }}{% endraw %}" in text, name
            assert "#49" not in text, name
