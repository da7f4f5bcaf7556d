"""Inline suppressions: ``# recipec: disable=RC102`` (this line, or the next when the comment stands
alone on its line) and ``# recipec: disable-file=RC102,RC203`` (the whole file).

Comments are found by a line scan: a ``#`` at the start of a line or after whitespace starts one, as in
YAML. (A ``#`` inside a quoted string that is followed by whitespace and ``recipec:`` would also match;
recipes have no reason to contain that text.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_DIRECTIVE = re.compile(r"(?:^|(?<=\s))#\s*recipec:\s*(disable-file|disable)\s*=\s*"
                        r"([A-Za-z0-9_-]+(?:\s*,\s*[A-Za-z0-9_-]+)*)")


@dataclass
class Suppression:
    line: int  # where the comment is (1-based)
    column: int
    scope: str  # "line" or "file"
    applies_to: int  # the line it silences (0 for file scope)
    codes: tuple[str, ...]
    used: set[str] = field(default_factory=set)

    def covers(self, code: str, line: int) -> bool:
        return code in self.codes and (self.scope == "file" or line == self.applies_to)


def parse_suppressions(text: str) -> list[Suppression]:
    if "recipec:" not in text:  # the common case costs one substring search
        return []
    lines = text.splitlines()
    out: list[Suppression] = []
    for i, raw in enumerate(lines):
        m = _DIRECTIVE.search(raw)
        if m is None:
            continue
        codes = tuple(c.strip() for c in m.group(2).split(",") if c.strip())
        if m.group(1) == "disable-file":
            out.append(Suppression(i + 1, m.start() + 1, "file", 0, codes))
            continue
        target = i + 1
        if not raw[: m.start()].strip():  # a comment on its own line silences the next line with content
            for j in range(i + 1, len(lines)):
                stripped = lines[j].strip()
                if stripped and not stripped.startswith("#"):
                    target = j + 1
                    break
        out.append(Suppression(i + 1, m.start() + 1, "line", target, codes))
    return out
