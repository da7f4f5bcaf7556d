"""No normalization layers while a width rule scales weight decay.

The weight-decay rules (Fan et al. 2025, MuAdamW's η·λ fixed) reason about scale-invariant weights:
behind a normalization layer a matrix's scale does not change the function, so decay sets an
equilibrium norm. Without normalization decay changes the function itself and the rule's derivation
does not apply.

**Anti-pattern**

```yaml
model: {norm: none}
transfer: [fan2025]
```

**Best practice**

```yaml
model: {norm: rmsnorm}
transfer: [fan2025]
```
"""

from recipec.lint.base import Finding

CODE = "RC601"
NAME = "no-norm"
SEVERITY = "warning"
SUMMARY = "No normalization layers, but the weight-decay rule assumes a scale-invariant architecture."
RATIONALE = "The σ_top ≈ √(η/λ) equilibrium behind the WD rules holds for weights followed by normalization."
CITATION = "Fan et al. 2025, arXiv:2510.15262; Wang & Aitchison 2024, arXiv:2405.13698"
OPTIONS: dict = {}


def check(ctx, options):
    if ctx.recipe.model.norm != "none":
        return
    rules = ctx.power_rules("hidden", "weight_decay", None)
    if rules and ctx.proxy.coupled_weight_decay("hidden") > 0:
        yield Finding(("model", "norm"), f"the model has no normalization layers but rule set '{rules[0].ruleset}' "
                                         f"scales weight decay, which assumes scale-invariant weights",
                      hint="use rmsnorm or layernorm, or drop the WD rule")
