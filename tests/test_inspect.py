"""``recipec inspect``: every target's own model and optimizer, built from the compiled files, agree with
resolved.json on every parameter — at every size of both examples (meta device), with ``--shrink`` for the
init std, and on tests/data/distinct.yaml whose classes all differ (so a misclassification fails) —
and a hand-edited generated file is caught, naming the parameter.
"""

from __future__ import annotations

import json

import pytest
from golden_cases import ROOT, TARGETS, render_case

from recipec.inspect import inspect_dir
from tests.conftest import run_cli

pytestmark = pytest.mark.frameworks
pytest.importorskip("torch")

DISTINCT = ROOT / "tests" / "data" / "distinct.yaml"
SIZES = [("llama-proxy", s) for s in ("1b", "8b", "70b")] + [("completep-depth", s) for s in ("wide-deep", "xl")] + \
    [("distinct", s) for s in ("proxy", "wide", "vocab-width")]
NEEDS = {"torchtitan": "torchtitan", "megatron": "megatron.core", "hf": "transformers", "neutral": "torch"}


def _compile(tmp_path_factory, example, size, targets=TARGETS):
    out = tmp_path_factory.mktemp(f"inspect-{example}-{size}")
    path = DISTINCT if example == "distinct" else None
    display = "tests/data/distinct.yaml" if example == "distinct" else None
    for f in render_case(example, size if size != "proxy" else None, None, targets=targets, path=path,
                         display=display).files:
        (out / f.path).write_text(f.text, encoding="utf-8")
        if f.executable:
            (out / f.path).chmod(0o755)
    return out


@pytest.fixture(scope="module", params=SIZES, ids=[f"{e}-{s}" for e, s in SIZES])
def compiled(request, tmp_path_factory):
    example, size = request.param
    return example, size, _compile(tmp_path_factory, example, size)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.slow
def test_every_parameter_agrees_at_full_size(compiled, target):
    pytest.importorskip(NEEDS[target])
    example, size, out = compiled
    report = inspect_dir(out, target, shrink=False)
    assert report.rows, "no parameter observed"
    assert report.ok, "\n".join(report.differences)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("case", [("distinct", "wide"), ("distinct", "vocab-width"), ("completep-depth", "xl"),
                                  ("llama-proxy", "1b")], ids=lambda c: f"{c[0]}-{c[1]}")
@pytest.mark.slow
def test_init_std_measured_after_the_frameworks_own_init(case, target, tmp_path_factory):
    pytest.importorskip(NEEDS[target])
    out = _compile(tmp_path_factory, *case)
    report = inspect_dir(out, target, shrink=True)
    measured = [r for r in report.rows if r.row.init_std is not None]
    assert measured, "no init std measured"
    assert report.ok, "\n".join(report.differences)


def test_distinct_classes_really_differ():
    """The recipe is only a test of classification if every class (and the down-projection) has its own numbers."""
    from recipec.load import load_recipe
    from recipec.transfer import resolve_loaded

    for size in (None, "wide", "vocab-width"):
        r = resolve_loaded(load_recipe(DISTINCT), size)
        for hp in ("lr", "weight_decay", "eps", "init_std"):
            values = [getattr(r.coupled(c), hp) for c in ("hidden", "embedding", "output", "vector")
                      if getattr(r.coupled(c), hp) is not None]
            assert len(set(values)) == len(values), (size, hp, values)
        if size is not None:
            assert r.kind_coupled("mlp_out").lr != r.kind_coupled("mlp_in").lr
    wide = resolve_loaded(load_recipe(DISTINCT), "vocab-width").shape
    assert wide.width == wide.vocab_size  # q and o have out_features == vocab


def _edit_json(path, edit):
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


@pytest.mark.slow
def test_cli_exit_codes_and_a_hand_edit_is_named(tmp_path_factory):
    pytest.importorskip("transformers")
    out = _compile(tmp_path_factory, "distinct", "wide", targets=("hf", "neutral"))
    ok = run_cli("inspect", str(out))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "hf: every parameter agrees" in ok.stdout and "neutral: every parameter agrees" in ok.stdout
    assert "model.layers.0.mlp.down_proj.weight" in ok.stdout  # one row per parameter
    _edit_json(out / "param_groups.json", lambda d: d["kinds"]["mlp_out"].__setitem__("lr", 0.002))
    bad = run_cli("inspect", str(out), "--target", "hf", "--format", "json")
    assert bad.returncode == 1
    (report,) = json.loads(bad.stdout)
    assert not report["ok"]
    assert all("down_proj" in d and "lr" in d for d in report["differences"]), report["differences"]
    assert len(report["differences"]) == 4  # one per layer


def test_cli_refuses_a_directory_without_resolved_json(tmp_path):
    r = run_cli("inspect", str(tmp_path))
    assert r.returncode == 2 and "resolved.json" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_cli_names_the_pip_command_when_a_framework_is_missing(tmp_path_factory, tmp_path):
    out = _compile(tmp_path_factory, "distinct", "wide", targets=("hf",))
    # a sitecustomize that hides transformers, as on a machine without it
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['transformers'] = None\n", encoding="utf-8")
    import os

    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    r = run_cli("inspect", str(out), "--target", "hf", env=env)
    assert r.returncode == 2, r.stderr
    assert "pip install" in r.stderr and "transformers" in r.stderr and "Traceback" not in r.stderr
