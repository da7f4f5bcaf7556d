"""A size overrides a transferred hyperparameter by hand.

``sizes.<name>.overrides`` replaces the value the rule sets computed. It does not move when the proxy
is retuned or a rule set changes, so the size silently drifts from the recipe; and it is a sign the
transfer is not trusted at that size, which is what ``recipec verify`` is for.

**Anti-pattern**

```yaml
sizes:
  8b:
    model: {width: 4096}
    overrides:
      hidden: {lr: 2.0e-4}
```

**Best practice**

```yaml
sizes:
  8b:
    model: {width: 4096}    # hidden.lr follows the rule sets; fix the proxy or the rule set instead
```
"""

from recipec.lint.base import PARAM_CLASSES, Finding, fmt

CODE = "RC301"
NAME = "size-override"
SEVERITY = "warning"
SUMMARY = "A size sets a transferred hyperparameter by hand."
RATIONALE = ("A hand-set value does not follow the proxy or the rule sets, so retuning the proxy no longer "
             "changes the target; the point of transfer is lost for that value.")
CITATION = "Yang et al. 2022, Tensor Programs V, arXiv:2203.03466 (tune small, transfer zero-shot)"
OPTIONS: dict = {}


def check(ctx, options):
    for name, size in ctx.recipe.sizes.items():
        res = ctx.sizes.get(name)
        for cls in PARAM_CLASSES:
            ov = getattr(size.overrides, cls)
            if ov is None:
                continue
            for hp in ("lr", "weight_decay", "eps"):
                value = getattr(ov, hp)
                if value is None:
                    continue
                transferred = ""
                if res is not None:
                    chain = getattr(res.classes[cls], hp).chain
                    if len(chain) >= 2:
                        transferred = f" (the rule sets give {fmt(chain[-2].value)})"
                yield Finding(("sizes", name, "overrides", cls, hp),
                              f"size '{name}' sets {cls}.{hp} = {fmt(value)} by hand{transferred}",
                              hint="remove the override; retune the proxy or change the rule set")
