"""Regenerate tests/golden/ — the only way golden files change. Run from anywhere:

    python tests/regen_golden.py

Review the diff before committing: every changed byte is a change users will see.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from golden_cases import CASES, GOLDEN, case_dir, render_case  # noqa: E402


def main() -> int:
    if GOLDEN.exists():
        shutil.rmtree(GOLDEN)
    n = 0
    for example, size, launcher in CASES:
        d = case_dir(example, size, launcher)
        for f in render_case(example, size, launcher).files:
            p = d / f.path
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(f.text.encode("utf-8"))
            n += 1
    print(f"wrote {n} golden files under {GOLDEN}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
