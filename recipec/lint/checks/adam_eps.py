"""Adam ε not scaled with width under muP, or large at the target.

Under muP the gradient entries of hidden matrices shrink ∝ 1/m; a fixed ε then becomes comparable to
√v and damps the update (Adam turns into SGD with a tiny LR). CompleteP and Megatron's ``--use-mup``
divide the hidden ε by m (and CompleteP by l^α in depth). The check fires when the width grows under a
muP rule set and no rule scales hidden ε, and when the hidden ε reached at a size exceeds
``max-target-eps`` (default 1e-7): Wortsman et al. 2023 show update damping once gradient RMS nears ε.
Only hidden matrices that Adam trains count: when Muon trains every hidden matrix (``optimizer.muon``),
Adam's ε touches no hidden gradient and the check is quiet (Muon's own ``eps`` only guards the
Newton–Schulz normalization).

**Anti-pattern**

```yaml
optimizer: {name: adamw, lr: 3.0e-3, eps: 1.0e-8}
transfer: [fan2025]             # η ∝ 1/m, ε fixed
sizes:
  8b: {model: {width: 4096}}
```

**Best practice**

```yaml
optimizer: {name: adamw, lr: 3.0e-3, eps: 1.0e-8}
transfer: [fan2025, completep]  # completep: hidden ε ∝ 1/m · l^-α
sizes:
  8b: {model: {width: 4096}}
```
"""

from recipec.lint.base import Finding, fmt

CODE = "RC401"
NAME = "adam-eps"
SEVERITY = "warning"
SUMMARY = "Adam ε not scaled with width under muP, or large against the update size at the target."
RATIONALE = ("Hidden gradient entries shrink ∝ 1/m under muP; an unscaled ε swamps √v at the target and "
             "damps the update, so the proxy's tuned LR no longer applies.")
CITATION = ("Dey et al. 2025, CompleteP, arXiv:2505.01618, Table 1 (ε ∝ 1/m); Wortsman et al. 2023, "
            "arXiv:2309.14322 (gradient RMS near ε)")
OPTIONS = {"max-target-eps": 1e-7}


def check(ctx, options):
    if ctx.recipe.optimizer.name not in ("adam", "adamw") or not ctx.main_kinds("hidden"):
        return  # not Adam, or Muon trains every hidden matrix
    anchor = ctx.proxy_hp_path("hidden", "eps")
    scaled = bool(ctx.power_rules("hidden", "eps", "width"))
    if ctx.is_mup() and not scaled:
        widened = [name for name, res in ctx.targets() if res.ratios["width"] > 1]
        if widened:
            yield Finding(anchor, f"Adam ε is not scaled with width under muP (sizes: {', '.join(widened)}); "
                                  f"hidden gradients shrink ∝ 1/m", hint="add completep (ε ∝ 1/m) to transfer")
    for name, res in ctx.targets():
        eps = res.classes["hidden"].eps.value
        if eps > options["max-target-eps"]:
            over = ("sizes", name, "overrides", "hidden", "eps")
            path = over if ctx.loaded.source_map.has(over) else anchor
            yield Finding(path, f"hidden Adam ε = {fmt(eps)} at size '{name}' is large "
                                f"(> {fmt(options['max-target-eps'])}) against the expected update size",
                          hint="lower ε (1e-8 or below, scaled 1/m)")
