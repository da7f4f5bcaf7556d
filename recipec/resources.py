"""Find the data directories (rules/, templates/, schemas/) in a wheel or in a checkout.

In a wheel they are shipped as ``recipec/_data/<name>`` (see pyproject.toml); in a
checkout or an editable install they sit at the repository's top level.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


@cache
def data_dir(name: str) -> Path:
    for candidate in (_PACKAGE_DIR / "_data" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"recipec data directory {name!r} not found; the installation is incomplete")


def rules_dir() -> Path:
    return data_dir("rules")


def templates_dir() -> Path:
    return data_dir("templates")
