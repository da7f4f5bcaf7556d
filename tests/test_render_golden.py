"""Rendered outputs equal the golden files byte for byte (regenerate: python tests/regen_golden.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from golden_cases import CASES, ROOT, TARGETS, case_dir, render_case


@pytest.mark.parametrize("example,size,launcher", CASES)
def test_matches_golden(example, size, launcher):
    d = case_dir(example, size, launcher)
    rendered = {f.path: f.text.encode("utf-8") for f in render_case(example, size, launcher).files}
    on_disk = {p.relative_to(d).as_posix(): p.read_bytes() for p in d.rglob("*") if p.is_file()}
    assert sorted(rendered) == sorted(on_disk), "file set changed: run python tests/regen_golden.py and review"
    for path, data in rendered.items():
        assert data == on_disk[path], f"{path} differs from its golden file: run python tests/regen_golden.py"


def _compile(out, seed, **env_extra):
    cmd = [sys.executable, "-m", "recipec", "compile", "examples/llama-proxy.yaml", "--size", "8b",
           "--launcher", "slurm", "--out", str(out)]
    for t in TARGETS:
        cmd += ["--target", t]
    env = dict(os.environ, PYTHONHASHSEED=str(seed), **env_extra)
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_cli_output_is_byte_identical_across_hash_seeds_and_equals_golden(tmp_path):
    a = _compile(tmp_path / "a", 0)
    b = _compile(tmp_path / "b", 12345)
    c = _compile(tmp_path / "c", 7, RECIPEC_NO_TEMPLATE_CACHE="1", XDG_CACHE_HOME=str(tmp_path / "cache"))
    assert a == b == c
    d = case_dir("llama-proxy", "8b", "slurm")
    assert a == {p.relative_to(d).as_posix(): p.read_bytes() for p in d.rglob("*") if p.is_file()}


def test_scripts_are_executable(tmp_path):
    _compile(tmp_path, 0)
    for name in ("launch_torchtitan_slurm.sbatch", "megatron_pretrain.py"):
        assert os.access(tmp_path / name, os.X_OK)
    assert not os.access(tmp_path / "param_groups.json", os.X_OK)


def test_compile_path_imports_neither_torch_nor_eager_jinja():
    code = (
        "import sys\n"
        "import recipec.render\n"
        "assert 'jinja2' not in sys.modules, 'importing recipec.render must not import jinja2'\n"
        "from recipec.cli import main\n"
        "argv = ['compile', 'examples/llama-proxy.yaml', '--size', '8b', '--out', sys.argv[1], '--launcher', 'slurm']\n"
        "for t in ('torchtitan', 'megatron', 'hf', 'neutral'): argv += ['--target', t]\n"
        "main(argv, standalone_mode=False)\n"
        "bad = sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('torch', 'transformers', 'torchtitan', 'megatron'))\n"
        "assert not bad, bad\n"
    )
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.executable, "-c", code, out], cwd=ROOT, check=True, capture_output=True)
