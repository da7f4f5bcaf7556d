"""Hidden-matrix weight decay not scaled with width, or scaled by another exponent than the rule set's.

With the muP learning rate η ∝ 1/m, keeping λ fixed lets the top singular value of the hidden
matrices (σ_top ≈ √(η/λ)·d^0.75) drift with width; Fan et al. 2025 scale coupled λ ∝ √m, MuAdamW
and CompleteP λ ∝ m. The check fires when the width changes and no rule set has a width rule for
hidden weight decay, when the rule set keeps it fixed (exponent 0, Megatron's ``--use-mup``), and when
the value reached at a size (a hand override) implies another exponent than the rule set's. Those
three concern the hidden matrices the main optimizer (AdamW) trains. For the hidden matrices Muon trains
(``optimizer.muon``) the check fires when Muon's weight decay is non-zero, the width changes and no
``optimizer: muon`` rule sets their weight decay on the width axis (``muon-spectral`` holds η·λ fixed,
our choice: no paper sets Muon's λ across width).

**Anti-pattern**

```yaml
optimizer: {lr: 3.0e-3, weight_decay: 0.1, wd_convention: coupled}
transfer: [mup-megatron]         # hidden WD exponent 0
sizes:
  8b: {model: {width: 4096}}
```

**Best practice**

```yaml
optimizer: {lr: 3.0e-3, weight_decay: 0.1, wd_convention: coupled}
transfer: [fan2025]              # hidden λ · m^0.5
sizes:
  8b: {model: {width: 4096}}
```
"""

import math

from recipec.lint.base import Finding

CODE = "RC102"
NAME = "hidden-wd-width"
SEVERITY = "warning"
SUMMARY = "Hidden weight decay is not scaled with width, or not by the rule set's exponent."
RATIONALE = ("σ_top(W) ≈ √(η/λ)·d^0.75: with η ∝ 1/d a fixed λ lets the sublayer gain drift with width; the "
             "width-matching exponent is 0.5 as published (1 keeps η·λ fixed).")
CITATION = "Fan et al. 2025, arXiv:2510.15262; CompleteP (Dey et al. 2025, arXiv:2505.01618) Table 1"
OPTIONS = {"tolerance": 0.05}


def check(ctx, options):
    yield from _muon(ctx)
    proxy_wd = ctx.proxy.coupled_weight_decay("hidden")
    if proxy_wd <= 0 or not ctx.main_kinds("hidden"):
        return  # no decay, or Muon trains every hidden matrix (the class value reaches none)
    anchor = ctx.proxy_hp_path("hidden", "weight_decay")
    rules = ctx.power_rules("hidden", "weight_decay", "width")
    for name, res in ctx.targets():
        m = res.ratios["width"]
        if m == 1:
            continue
        if not rules:
            yield Finding(anchor, f"hidden weight decay is not scaled with width (size '{name}': m = {m:g}); no "
                                  f"rule set has a width rule for it",
                          hint="add fan2025 (λ·m^0.5) or mup-adamw (λ·m) to transfer")
            continue
        rule = rules[0]
        if rule.exponent == 0:
            yield Finding(ctx.transfer_path(rule.index),
                          f"rule set '{rule.ruleset}' keeps hidden weight decay fixed with width (exponent 0)",
                          hint="with η ∝ 1/m use λ·m^0.5 (fan2025) or λ·m (mup-adamw)")
            continue
        wd = res.classes["hidden"].weight_decay
        target = res.coupled_weight_decay("hidden")
        other = math.prod(s.factor for s in wd.chain if s.kind == "power" and s.axis != "width" and s.factor)
        if target <= 0 or other <= 0:
            continue
        effective = math.log(target / (proxy_wd * other)) / math.log(m)
        if abs(effective - rule.exponent) > options["tolerance"]:
            over = ("sizes", name, "overrides", "hidden", "weight_decay")
            path = over if ctx.loaded.source_map.has(over) else anchor
            yield Finding(path, f"hidden weight decay at size '{name}' scales as m^{effective:.2f}, but rule set "
                                f"'{rule.ruleset}' says m^{rule.exponent:g}",
                          hint="let the rule set scale it (remove the hand-set value)")


def _muon(ctx):
    muon = ctx.recipe.optimizer.muon
    kinds = [k for k in ctx.muon_kinds() if ctx.proxy.kinds[k].cls == "hidden"]
    if muon is None or muon.weight_decay <= 0 or not kinds:
        return
    for name, res in ctx.targets():
        m = res.ratios["width"]
        if m == 1:
            continue
        bare = [k for k in kinds if not ctx.rules_for_kind(k, "weight_decay", "width", muon=True)]
        if bare:
            yield Finding(("optimizer", "muon", "weight_decay"),
                          f"Muon's weight decay is not scaled with width (size '{name}': m = {m:g}) for "
                          f"{', '.join(bare)}; no rule with 'optimizer: muon' sets it",
                          hint="add muon-spectral to transfer (λ ∝ 1/g, η·λ fixed)")
        return
