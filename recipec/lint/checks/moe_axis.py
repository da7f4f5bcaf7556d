"""The number of experts or top-k changes at a size but no rule set has a rule on that axis.

Width rules (and ``mup-moe``) say how values move when the model gets wider, with each expert's matrices
scaled by their own fan-in and fan-out. They say nothing about routing over more experts or to more of
them per token: with top-k fixed each expert sees a smaller share of the tokens (its gradient is an average
over fewer of them), and with more experts per token the combined output sums more terms. Małaśnicki et al.
2025 study how the optimal LR moves with the number of experts; no rule set recipec ships encodes such a
law. The check fires at each size whose ``num_experts`` (axis ``experts``) or ``top_k`` (axis ``top_k``)
differs from the proxy's when no loaded rule set has any rule on that axis: the proxy's tuned values are
then carried over unchanged, which nothing backs.

**Anti-pattern**

```yaml
model:
  moe: {num_experts: 8, top_k: 2}
transfer: [mup-adamw, mup-moe]
sizes:
  xl: {model: {width: 2048, num_experts: 64, top_k: 8}}
```

**Best practice**

```yaml
model:
  moe: {num_experts: 8, top_k: 2}   # the proxy routes like the target
transfer: [mup-adamw, mup-moe]
sizes:
  xl: {model: {width: 2048}}
```
"""

from recipec.lint.base import Finding

CODE = "RC407"
NAME = "moe-axis-without-rule"
SEVERITY = "warning"
SUMMARY = "The number of experts or top-k changes at a size without a rule on the experts / top_k axis."
RATIONALE = ("The optimal LR of a mixture of experts depends on how many experts there are and how many a token "
             "uses; width rules do not cover that change, so the proxy's values are carried over unbacked.")
CITATION = ("Małaśnicki et al. 2025, μ-Parameterization for Mixture of Experts, arXiv:2508.09752 (abstract: "
            "the effect of the number of experts and granularity on the optimal LR)")
OPTIONS: dict = {}

_AXES = (("experts", "num_experts", "number of experts"), ("top_k", "top_k", "top-k"))


def check(ctx, options):
    if not ctx.proxy.shape.moe:
        return
    for name, res in ctx.targets():
        for axis, field, what in _AXES:
            ratio = res.ratios.get(axis, 1.0)
            if ratio == 1 or ctx.power_rules(axis=axis, optimizer=None):
                continue
            before, after = getattr(res.proxy_shape, field), getattr(res.shape, field)
            yield Finding(ctx.size_path(name, "model", field),
                          f"the {what} changes from {before} to {after} at size '{name}' but no rule set has a rule "
                          f"on the '{axis}' axis", hint=f"keep the proxy's {field}, or add a rule set with a "
                                                        f"rule on the '{axis}' axis once one is published for it")
