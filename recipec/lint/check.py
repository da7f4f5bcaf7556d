"""``Check``: a lint check's metadata and its ``check`` function, read from its module.

Every check module defines CODE, NAME, SEVERITY, SUMMARY, RATIONALE, CITATION, OPTIONS (a dict of
option name -> default) and ``check(ctx, options)``; its docstring is its user documentation and must
carry **Anti-pattern** and **Best practice** YAML examples (``tests/lint/test_lint_meta.py`` enforces this).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from recipec.diagnostics import Severity


@dataclass(frozen=True)
class Check:
    code: str
    name: str
    severity: Severity
    summary: str
    rationale: str
    citation: str
    doc: str
    options: dict[str, Any] = field(default_factory=dict)
    run: Callable[..., Iterable] | None = None  # None for findings the engine itself makes (RC001, RC002)

    @classmethod
    def from_module(cls, module: ModuleType) -> Check:
        return cls(
            code=module.CODE,
            name=module.NAME,
            severity=Severity(module.SEVERITY),
            summary=module.SUMMARY,
            rationale=module.RATIONALE,
            citation=module.CITATION,
            doc=inspect.cleandoc(module.__doc__ or ""),
            options=dict(getattr(module, "OPTIONS", {})),
            run=getattr(module, "check", None),
        )
