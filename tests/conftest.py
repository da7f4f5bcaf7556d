from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
LLAMA = EXAMPLES / "llama-proxy.yaml"
COMPLETEP = EXAMPLES / "completep-depth.yaml"


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m recipec`` in a subprocess (exit codes and stderr exactly as a user sees them)."""
    return subprocess.run([sys.executable, "-m", "recipec", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=env, timeout=120)


@pytest.fixture
def write_recipe(tmp_path):
    """Write YAML text (or bytes) to a file and return its path."""

    def _write(text: str | bytes, name: str = "recipe.yaml") -> Path:
        p = tmp_path / name
        if isinstance(text, bytes):
            p.write_bytes(text)
        else:
            p.write_text(text, encoding="utf-8")
        return p

    return _write


BASE = """\
name: t
model:
  width: 256
  depth: 4
  head_dim: 64
  ffn_multiplier: 4
  vocab_size: 1024
  seq_len: 256
optimizer:
  name: adamw
  lr: 3.0e-3
  weight_decay: 0.1
  wd_convention: coupled
init:
  std: 0.02
batch:
  global_sequences: 32
run:
  tokens: 100000000
transfer: [fan2025]
sizes:
  big:
    model: {width: 4096}
"""
