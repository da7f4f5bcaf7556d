"""A ``# recipec: disable=…`` comment that silences nothing.

A suppression that no longer matches a finding (the value was fixed, the line moved, the code is
misspelled) hides nothing today but will hide a real finding tomorrow. Remove it.

**Anti-pattern**

```yaml
optimizer:
  lr: 3.0e-3   # recipec: disable=RC301
```

**Best practice**

```yaml
optimizer:
  lr: 3.0e-3
```
"""

CODE = "RC002"
NAME = "unused-suppression"
SEVERITY = "warning"
SUMMARY = "A suppression comment silences no finding (or names an unknown code)."
RATIONALE = "Stale suppressions silently hide the next real finding on that line."
CITATION = "as ruff's RUF100 (unused-noqa), https://docs.astral.sh/ruff/rules/unused-noqa/"
OPTIONS: dict = {}
# No check(): the engine reports these after matching suppressions to findings.
