"""Depth changes between proxy and target but no rule set has a depth rule.

Width rules say nothing about depth. Without residual-branch scaling (CompleteP, depth-muP) the
optimal learning rate drifts with the number of blocks, so a proxy with fewer layers does not predict
the target's. Add ``completep`` (α = 1) or depth-muP (α = 0.5), or keep the proxy's depth. In a Muon
recipe a depth rule for the LR made for Adam (``completep``: η ∝ l^(α-1)) acts on the main optimizer's
kinds only: when the depth changes and no ``optimizer: muon`` rule sets the Muon kinds' LR on the depth
axis, the check fires for them too (CompleteP's residual multiplier acts on every block, but its LR
rule is derived for Adam).

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
    any_rule = bool(ctx.power_rules(axis="depth", optimizer=None))
    muon = [k for k in ctx.muon_kinds() if not ctx.rules_for_kind(k, "lr", "depth", muon=True)]
    for name, res in ctx.targets():
        if res.ratios["depth"] == 1:
            continue
        path = ctx.size_path(name, "model", "depth")
        if not any_rule:
            yield Finding(path, f"depth changes from {res.proxy_shape.depth} to {res.shape.depth} at size '{name}' "
                                f"but no rule set has a depth rule", hint="add completep to transfer")
        elif muon:
            yield Finding(path, f"depth changes from {res.proxy_shape.depth} to {res.shape.depth} at size '{name}' "
                                f"but no rule scales Muon's LR with depth ({', '.join(muon)}; the depth rules for the "
                                f"LR act on the main optimizer's kinds)",
                          hint="keep the proxy's depth, or add a depth rule with 'optimizer: muon' after checking "
                               "Muon's LR at the target depth")
