"""Weight decay set on vector-like parameters or embeddings where the rule set fixes it at 0.

Fan et al. 2025 (and the reference table) give embeddings, the readout, norm gains and biases no
weight decay. When a rule set fixes a class's decay at 0, a per-class value at the proxy never takes
effect (the proxy itself trains with 0), and a size override puts decay back on parameters the rule
set says must have none.

**Anti-pattern**

```yaml
optimizer:
  weight_decay: 0.1
  wd_convention: coupled
  per_class:
    vector: {weight_decay: 0.1}   # fan2025 fixes vector WD at 0
transfer: [fan2025]
```

**Best practice**

```yaml
optimizer:
  weight_decay: 0.1               # hidden matrices; fan2025 zeroes the vector-like classes
  wd_convention: coupled
transfer: [fan2025]
```
"""

from recipec.lint.base import VECTOR_LIKE, Finding, fmt

CODE = "RC101"
NAME = "vector-weight-decay"
SEVERITY = "warning"
SUMMARY = "Weight decay on embeddings, readout, norm gains or biases where the rule set says 0."
RATIONALE = ("Vector-like parameters carry no decay in the published width rule; a value set by hand is either "
             "silently replaced (the proxy never trained with it) or reintroduces decay the rule forbids.")
CITATION = ("Fan et al. 2025, Robust Layerwise Scaling Rules by Proper Weight Decay Tuning, arXiv:2510.15262 "
            "(vector: λ = 0)")
OPTIONS: dict = {}


def check(ctx, options):
    r = ctx.recipe
    for cls in VECTOR_LIKE:
        fixed = ctx.fixed_value(cls, "weight_decay")
        if fixed is None or fixed[2] != 0:
            continue
        ruleset = fixed[0]
        per = getattr(r.optimizer.per_class, cls)
        if per is not None and per.weight_decay:
            yield Finding(("optimizer", "per_class", cls, "weight_decay"),
                          f"{cls} weight decay {fmt(per.weight_decay)} is replaced by 0 at every size (rule set "
                          f"'{ruleset}'): the proxy never trains with it",
                          hint="remove it, or set it to 0")
        for name, size in r.sizes.items():
            ov = getattr(size.overrides, cls)
            if ov is not None and ov.weight_decay:
                yield Finding(("sizes", name, "overrides", cls, "weight_decay"),
                              f"size '{name}' puts weight decay {fmt(ov.weight_decay)} on {cls} parameters, "
                              f"which rule set '{ruleset}' keeps at 0",
                              hint="remove the override")
