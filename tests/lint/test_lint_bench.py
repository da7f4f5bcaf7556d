"""The benchmark's generated recipes are valid recipes (so the 1000-recipe figure lints real work)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from recipec.lint import lint_paths


def test_generated_recipes_load_and_resolve(repo: Path, tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("lint_bench", repo / "benchmarks" / "lint_bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    paths = bench.generate(tmp_path, 40)
    assert len(paths) == 40
    diags = lint_paths([str(tmp_path)])
    assert not [d for d in diags if d.code == "RC001"], [str(d) for d in diags if d.code == "RC001"][:3]
    assert len({d.location.file for d in diags}) > 1
