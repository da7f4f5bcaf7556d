"""compile's options for CI and launches: --strict, --quiet, refused no-ops, the examples lint clean on their own."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner
from golden_cases import ROOT, TARGETS

from recipec.cli import main

LLAMA = str(ROOT / "examples" / "llama-proxy.yaml")
COMPLETEP = str(ROOT / "examples" / "completep-depth.yaml")


def _run(*args):
    return CliRunner().invoke(main, ["compile", *args])


def test_launcher_without_a_runnable_target_is_refused(tmp_path):
    for targets in ([], ["--target", "neutral"]):
        result = _run(LLAMA, "--size", "1b", "--launcher", "slurm", "--out", str(tmp_path / "o"), *targets)
        assert result.exit_code == 2, result.output
        assert "--launcher slurm writes nothing without a --target that runs" in result.output
        assert not (tmp_path / "o").exists()


def test_repeated_launcher_is_refused(tmp_path):
    result = _run(LLAMA, "--target", "hf", "--launcher", "slurm", "--launcher", "k8s", "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "--launcher given 2 times (slurm, k8s): give it once" in result.output
    assert not (tmp_path / "o").exists()
    # the same value twice is no ambiguity
    assert _run(LLAMA, "--target", "hf", "-l", "k8s", "-l", "k8s", "--out", str(tmp_path / "p")).exit_code == 0


def test_strict_lists_each_gap_as_lint_rc603_does(tmp_path):
    from recipec.frameworks.gaps import gaps
    from recipec.load import load_recipe
    from recipec.transfer import resolve_loaded

    loaded = load_recipe(COMPLETEP)
    r = resolve_loaded(loaded, "wide-deep")
    want = [f"strict: {t}: {g.note}" for t in ("torchtitan", "megatron", "hf")
            for g in gaps(t, r)]
    assert len(want) >= 3
    result = CliRunner().invoke(main, ["compile", COMPLETEP, "--size", "wide-deep", "--strict", "-q",
                                       "--out", str(tmp_path / "o"), "-t", "torchtitan", "-t", "megatron", "-t", "hf"])
    assert result.exit_code == 1
    assert [line for line in result.stdout.splitlines() if line.startswith("strict:")] == want
    assert "nothing written" in result.stderr and not (tmp_path / "o").exists()
    # the lint rule reports the same notes
    lint = CliRunner().invoke(main, ["lint", "--target", "hf", COMPLETEP])
    for line in want:
        if line.startswith("strict: hf: "):
            assert line[len("strict: hf: "):] in lint.stdout
    # a target that expresses everything passes strict
    ok = _run(LLAMA, "--size", "8b", "--strict", "-t", "neutral", "--out", str(tmp_path / "n"))
    assert ok.exit_code == 0, ok.output


def test_check_quiet_prints_only_findings(tmp_path):
    out = tmp_path / "o"
    args = [LLAMA, "--size", "8b", "--launcher", "torchrun", "--out", str(out)]
    for t in TARGETS:
        args += ["--target", t]
    assert _run(*args).exit_code == 0
    loud = _run(*args, "--check")
    assert loud.exit_code == 0 and "note:" in loud.stderr
    quiet = _run(*args, "--check", "--quiet")
    assert quiet.exit_code == 0 and quiet.output == ""
    (out / "param_groups.json").unlink()
    missing = _run(*args, "--check", "-q")
    assert missing.exit_code == 1 and "note:" not in missing.output
    assert f"{out / 'param_groups.json'}: missing" in missing.stdout


def test_hf_notes_for_tied_embeddings_do_not_contradict(tmp_path):
    result = _run(COMPLETEP, "--size", "wide-deep", "-t", "hf", "--out", str(tmp_path / "o"))
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: hf:")]
    assert any("output_multiplier=0.25 is NOT applied" in n for n in notes)
    assert not any("output" in n and "lowered by the hook" in n for n in notes), notes


@pytest.mark.slow
def test_examples_lint_clean_outside_the_repository(tmp_path):
    """No pyproject.toml above tmp_path: the examples' own inline suppressions must carry them."""
    for example in (LLAMA, COMPLETEP):
        result = subprocess.run([sys.executable, "-m", "recipec", "lint", example], cwd=tmp_path,
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "RC502" not in result.stdout and "RC002" not in result.stdout
        text = open(example, encoding="utf-8").read()
        assert "# recipec: disable=RC502" in text and "RC502 (AdamW timescale drift) is expected here" in text


def test_bad_launch_options_are_usage_errors(tmp_path):
    for opt, value, says in (("--launch-env", "NO_EQUALS", "Invalid value for '--launch-env': expected NAME=VALUE"),
                             ("--launch-env", "1X=y", "Invalid value for '--launch-env': expected NAME=VALUE"),
                             ("--k8s-volume", "Bad_Claim:/data",
                              "Invalid value for '--k8s-volume': expected CLAIM:/ABSOLUTE/MOUNT/PATH"),
                             ("--k8s-volume", "corpus:data",
                              "Invalid value for '--k8s-volume': expected CLAIM:/ABSOLUTE/MOUNT/PATH"),
                             ("--k8s-volume", "corpus:/recipec",
                              "Invalid value for '--k8s-volume': expected CLAIM:/ABSOLUTE/MOUNT/PATH"),
                             ("--image", " ", "Invalid value for '--image': must not be empty")):
        result = _run(LLAMA, "-t", "hf", "-l", "k8s", opt, value, "--out", str(tmp_path / "o"))
        assert result.exit_code == 2 and says in result.output, (opt, value, result.output)
        assert "Traceback" not in result.output
