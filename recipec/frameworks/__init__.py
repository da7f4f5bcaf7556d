"""What recipec knows of each framework it compiles for: one module per framework (parameter names → kinds),
``gaps`` (what each cannot express), and the one registry of target names.

Below lint, render and inspect, which all read it; standard library only (lint and compile import it on
their start-up path).
"""

from __future__ import annotations

import math

# The targets that are a framework: each has a launch command and may have gaps (``recipec.frameworks.gaps``).
FRAMEWORKS: tuple[str, ...] = ("torchtitan", "megatron", "hf")
# Every compile target, in the order the CLI and lint's config list them: ``neutral`` (recipec's own
# framework-free output, param_groups.json) and the frameworks. render.TARGETS and inspect.TARGETS map
# each of these to its module (tests/test_layering.py checks they agree).
TARGETS: tuple[str, ...] = ("neutral", *FRAMEWORKS)


def is_one(x: float) -> bool:
    """A multiplier of 1 up to rounding: nothing to apply or lower."""
    return math.isclose(x, 1.0, rel_tol=1e-12, abs_tol=0.0)


def fmt(x: float) -> str:
    """A value as written into generated configs and notes (6 significant digits)."""
    return f"{x:.6g}"
