"""Diagnostics shared by every stage: schema errors, rule-engine errors, lint findings.

Uses nothing else from recipec, so every other module may import it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

# Characters that would break one diagnostic over several lines (or hide text on a terminal): C0 and C1
# controls, DEL, and Unicode's line and paragraph separators. Echoed keys and values may hold them.
_BREAKING = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_BREAKING.update({0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x2028: "\\u2028", 0x2029: "\\u2029"})


def one_line(text: str) -> str:
    """``text`` with line breaks and control characters escaped, so a diagnostic stays one line."""
    return text.translate(_BREAKING)


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 3, "warning": 2, "info": 1}[self.value]


@dataclass(frozen=True, order=True)
class Location:
    """A position in a source file; line and column are 1-based."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Diagnostic:
    """One finding: where (source location and config path) and what."""

    message: str
    path: str = ""
    location: Location | None = None
    severity: Severity = Severity.ERROR
    code: str = ""
    hint: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def format(self) -> str:
        parts = []
        if self.location is not None:
            parts.append(f"{self.location}:")
        if self.code:
            parts.append(f"{self.code} {self.severity.value}:")
        if self.path:
            parts.append(f"{self.path}:")
        parts.append(self.message)
        text = " ".join(parts)
        if self.hint:
            text += f" (hint: {self.hint})"
        return one_line(text)

    def __str__(self) -> str:
        return self.format()


class RecipecError(Exception):
    """An expected user error (bad recipe, bad rule file, bad usage): exit code 2, no traceback."""

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic | str):
        if isinstance(diagnostics, str):
            diagnostics = [Diagnostic(diagnostics)]
        elif isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(d.format() for d in self.diagnostics))
