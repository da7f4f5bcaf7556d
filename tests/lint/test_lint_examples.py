"""The shipped examples lint clean; examples/bad triggers at least 12 distinct codes, each at its line."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from recipec.cli import main
from recipec.lint import lint_paths

EXPECT = re.compile(r"expect: (RC\d{3})")


def test_shipped_examples_lint_clean_at_fail_on_warning(repo: Path) -> None:
    """Clean on their own: no pyproject.toml exception; RC502 is suppressed inline, with its reason, in each file."""
    files = sorted(str(p) for p in (repo / "examples").glob("*.yaml"))
    assert files
    assert "tool.recipec" not in (repo / "pyproject.toml").read_text(encoding="utf-8").replace(
        "[tool.recipec] on Python 3.10", "")
    result = CliRunner().invoke(main, ["lint", "--fail-on", "warning", "--format", "text", *files])
    assert result.exit_code == 0, result.output


def test_the_shipped_examples_only_exception_is_rc502_inline(repo: Path) -> None:
    from recipec.lint.config import LintConfig

    files = sorted(str(p) for p in (repo / "examples").glob("*.yaml"))
    assert {d.code for d in lint_paths(files, LintConfig())} - {"RC405"} == set()
    for f in files:
        text = Path(f).read_text(encoding="utf-8")
        # the LLaMA examples silence RC502 once, with the reason; the Muon and MoE examples need no exception
        assert text.count("# recipec: disable=") == text.count("# recipec: disable=RC502\n") <= 1, f


def test_bad_example_triggers_each_marked_code_at_its_line(repo: Path) -> None:
    path = repo / "examples" / "bad" / "recipe.yaml"
    expected = set()
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        expected |= {(code, i) for code in EXPECT.findall(line)}
    got = {(d.code, d.location.line) for d in lint_paths([str(path)])}
    assert got == expected
    assert len({code for code, _ in got}) >= 12


def test_bad_example_fails_the_cli(repo: Path) -> None:
    result = CliRunner().invoke(main, ["lint", "--format", "text", str(repo / "examples" / "bad")])
    assert result.exit_code == 1
    assert "RC403 error" in result.output
