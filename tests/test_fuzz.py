"""A bounded slice of the fuzz harness (benchmarks/fuzz.py): 200 mutated recipes, 800 commands.

The full run (10,000 recipes) and its figures are in benchmarks/RESULTS.md; this slice runs a different
part of the case stream on every seed change, so a regression in any command shows up here first.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import fuzz  # noqa: E402


@pytest.mark.slow
def test_fuzz_slice_has_no_traceback_no_bad_exit_no_slow_run_no_unlocated_error_no_non_finite_number():
    tally = fuzz.run(200, seed=2026)
    assert tally.commands == 800
    assert tally.ok(), fuzz.report(tally, 0.0, "tests/test_fuzz.py")
    # the slice reaches every outcome: recipes that compile, lint findings, and located refusals
    codes = {code for (_, code) in tally.exits}
    assert {0, 1, 2} <= codes, tally.exits


def test_the_judge_catches_what_it_counts():
    """The checks the harness applies are not vacuous."""
    assert fuzz._unlocated_lines("recipe.yaml: model: required key is missing\n")
    assert not fuzz._unlocated_lines("recipe.yaml:3:5: model: required key is missing\nwarning: x\n")
    assert fuzz._non_finite_in('{"lr": NaN}') and fuzz._non_finite_in("lr = inf\n") and fuzz._non_finite_in("x: .nan")
    assert not fuzz._non_finite_in("info: the inference is finite; what\\nan independent value")
    assert fuzz._lint_unlocated("json", '[{"line": null}]')
