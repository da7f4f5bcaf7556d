"""A transfer rule set made for another optimizer (e.g. the linear batch rule with Adam).

Rule sets declare the optimizers they hold for (``requires.optimizer``). The linear batch rule is
SGD's; Adam's is √b, so linear scaling over-shoots the LR by √b. A rule file without ``requires``
that scales the LR linearly with the batch under Adam (or by √b under SGD) is reported too.

**Anti-pattern**

```yaml
optimizer: {name: adamw, lr: 3.0e-3}
transfer: [fan2025, sgd-linear-batch]
```

**Best practice**

```yaml
optimizer: {name: adamw, lr: 3.0e-3}
transfer: [fan2025, adam-sqrt-batch]
```
"""

import math

from recipec.lint.base import Finding

CODE = "RC403"
NAME = "ruleset-optimizer"
SEVERITY = "error"
SUMMARY = "A transfer rule set is for a different optimizer than the recipe's (linear batch rule with Adam)."
RATIONALE = "Scaling laws are optimizer-specific: SGD's LR grows ∝ b, Adam's ∝ √b; the wrong one mis-sets the LR."
CITATION = "Malladi et al. 2022, arXiv:2205.10287; Granziol et al. 2022, arXiv:2006.09092"
OPTIONS: dict = {}

_BATCH_EXPONENT = {"sgd": 1.0, "adam": 0.5, "adamw": 0.5}


def check(ctx, options):
    opt = ctx.recipe.optimizer.name
    flagged = set()
    # A rule set that declares other optimizers: resolve already warns (Resolved.warnings, under this code).
    for w in ctx.proxy.warnings:
        if w.code == CODE:
            i = w.extra["transfer_index"]
            flagged.add(i)
            yield Finding(ctx.transfer_path(i), w.message, hint=w.hint)
    want = _BATCH_EXPONENT[opt]
    for rule in ctx.power_rules(None, "lr", "batch"):
        if rule.index in flagged or math.isclose(rule.exponent, want):
            continue
        flagged.add(rule.index)
        yield Finding(ctx.transfer_path(rule.index),
                      f"rule set '{rule.ruleset}' scales the LR as b^{rule.exponent:g} with the batch; {opt} needs "
                      f"b^{want:g}", hint="adam-sqrt-batch for Adam/AdamW, sgd-linear-batch for SGD")
