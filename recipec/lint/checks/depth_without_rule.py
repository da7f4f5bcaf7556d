"""Depth changes between proxy and target but no rule set has a depth rule.

Width rules say nothing about depth. Without residual-branch scaling (CompleteP, depth-muP) the
optimal learning rate drifts with the number of blocks, so a proxy with fewer layers does not predict
the target's. Add ``completep`` (α = 1) or depth-muP (α = 0.5), or keep the proxy's depth.

**Anti-pattern**

```yaml
model: {width: 256, depth: 8}
transfer: [fan2025]
sizes:
  8b: {model: {width: 4096, depth: 32}}
```

**Best practice**

```yaml
model: {width: 256, depth: 8}
transfer: [fan2025, completep]
sizes:
  8b: {model: {width: 4096, depth: 32}}
```
"""

from recipec.lint.base import Finding

CODE = "RC303"
NAME = "depth-without-rule"
SEVERITY = "warning"
SUMMARY = "Depth changes between sizes without a depth transfer rule."
RATIONALE = ("Under standard residual scaling the optimal LR shifts with depth; CompleteP's l^-α residual "
             "multiplier and its LR/eps rules make it depth-independent.")
CITATION = "Dey et al. 2025, CompleteP, arXiv:2505.01618; Yang et al. 2023, Tensor Programs VI, arXiv:2310.02244"
OPTIONS: dict = {}


def check(ctx, options):
    if ctx.power_rules(axis="depth"):
        return
    for name, res in ctx.targets():
        if res.ratios["depth"] != 1:
            yield Finding(ctx.size_path(name, "model", "depth"),
                          f"depth changes from {res.proxy_shape.depth} to {res.shape.depth} at size '{name}' but no "
                          f"rule set has a depth rule", hint="add completep to transfer")
