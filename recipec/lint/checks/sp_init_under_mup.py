"""Standard-parametrization init (a fixed init std) under a muP rule set.

muP's learning rate η ∝ 1/m is derived together with an init variance ∝ 1/fan_in (std ∝ m^-1/2) for
the hidden matrices. A recipe that transfers the LR by muP but keeps the init std fixed, or that
declares ``init.parametrization: standard`` while its rule set is muP, trains the target in neither
parametrization.

**Anti-pattern**

```yaml
init: {parametrization: standard, std: 0.02}
transfer: [fan2025]              # muP learning rates
```

**Best practice**

```yaml
init: {parametrization: mup, std: 0.02}
transfer: [fan2025]              # also scales the hidden init std by m^-1/2
```
"""

from recipec.lint.base import Finding

CODE = "RC201"
NAME = "sp-init-under-mup"
SEVERITY = "warning"
SUMMARY = "Standard-parametrization init (fixed std) combined with a muP rule set."
RATIONALE = ("muP's LR rule is only valid together with its init rule (hidden std ∝ fan_in^-1/2); mixing them "
             "breaks the width-independence the transfer relies on.")
CITATION = "Yang et al. 2022, Tensor Programs V, arXiv:2203.03466, Table 3"
OPTIONS: dict = {}


def check(ctx, options):
    if not ctx.is_mup():
        return
    lr_rule = ctx.power_rules("hidden", "lr", "width")[0]
    smap = ctx.loaded.source_map
    if ctx.recipe.init.parametrization == "standard":
        path = (("init", "parametrization") if smap.has(("init", "parametrization"))
                else ctx.transfer_path(lr_rule.index))
        yield Finding(path, f"init.parametrization is 'standard' but rule set '{lr_rule.ruleset}' transfers the "
                            f"learning rate by muP (hidden η ∝ 1/m)",
                      hint="tune the proxy in muP and say init.parametrization: mup")
    if ctx.power_rules("hidden", "init_std", "width"):
        return
    widened = [name for name, res in ctx.targets() if res.ratios["width"] != 1]
    if widened:
        yield Finding(ctx.proxy_hp_path("hidden", "init_std"),
                      f"the hidden init std stays fixed with width (sizes: {', '.join(widened)}) while rule set "
                      f"'{lr_rule.ruleset}' scales the LR by muP; muP needs std ∝ m^-1/2",
                      hint="add a width rule for hidden init_std (exponent -0.5), e.g. use fan2025 or mup-adamw")
