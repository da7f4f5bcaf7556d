"""torch stays off the compile/explain path; data files ship inside the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from tests.conftest import LLAMA, ROOT

PROBE = """
import sys
from click.testing import CliRunner
from recipec.cli import main
for args in ({args}):
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
heavy = sorted(m for m in ("torch", "numpy", "scipy", "jsonschema") if m in sys.modules)
print(",".join(heavy))
"""


def test_compile_and_explain_never_import_torch(tmp_path):
    args = repr((("explain", str(LLAMA), "--size", "8b"),
                 ("compile", str(LLAMA), "--size", "70b", "--out", str(tmp_path)),
                 ("estimate", str(LLAMA), "--size", "8b"), ("rulesets",), ("rulesets", "completep"), ("schema",)))
    proc = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"imported on the compile path: {proc.stdout}"


@pytest.mark.slow
def test_wheel_ships_rules_templates_schemas_and_runs_from_them(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    wheel = next(tmp_path.glob("recipec-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for required in ("recipec/_data/rules/fan2025.yaml", "recipec/_data/schemas/recipe.schema.json",
                     "recipec/cli.py"):
        assert required in names, required
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # Run from the unpacked wheel, outside the checkout: rule sets must come from recipec/_data.
    code = ("import recipec.resources as r, recipec.transfer as t; "
            "print(r.rules_dir()); print(len(t.builtin_names()))")
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    rules_dir, count = out.stdout.split()
    assert rules_dir == str(site / "recipec" / "_data" / "rules")
    assert int(count) >= 9
