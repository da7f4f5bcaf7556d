"""Extrapolating too far: a width ratio beyond the bound, or a proxy too narrow or with too few heads.

Transfer rules are asymptotic in width: at a very small proxy the finite-width corrections are large,
and every exponent error compounds as m^error. Options: ``max-width-ratio`` (default 32, the
furthest single step; chain two proxies for more), ``min-proxy-width`` (default 128) and
``min-proxy-heads`` (default 2). These defaults are heuristics (Tensor Programs V transferred to GPT-3
6.7B from a width-256 proxy, m = 16); set them in ``[tool.recipec.options.RC302]``.

**Anti-pattern**

```yaml
model: {width: 64, heads: 1}
sizes:
  70b: {model: {width: 8192}}    # m = 128 from a one-head proxy
```

**Best practice**

```yaml
model: {width: 256, heads: 4}
sizes:
  8b: {model: {width: 4096}}     # m = 16
```
"""

from recipec.lint.base import Finding

CODE = "RC302"
NAME = "extrapolation"
SEVERITY = "warning"
SUMMARY = "Width ratio beyond a bound, or a proxy too narrow or with too few attention heads."
RATIONALE = ("Width rules hold asymptotically; finite-width effects at a tiny proxy and exponent errors "
             "(a factor m^Δe at ratio m) grow with the extrapolation distance.")
CITATION = "Yang et al. 2022, Tensor Programs V, arXiv:2203.03466 (width-256 proxy, m = 16)"
OPTIONS = {"max-width-ratio": 32, "min-proxy-width": 128, "min-proxy-heads": 2}


def check(ctx, options):
    targets = list(ctx.targets())
    if not any(res.ratios["width"] != 1 for _, res in targets):
        return
    p = ctx.proxy.shape
    if p.width < options["min-proxy-width"]:
        yield Finding(("model", "width"), f"proxy width {p.width} is below {options['min-proxy-width']}: too narrow "
                                          f"for width transfer", hint="use a wider proxy")
    if p.heads < options["min-proxy-heads"]:
        path = ("model", "heads") if ctx.recipe.model.heads is not None else ("model", "head_dim")
        yield Finding(path, f"the proxy has {p.heads} attention head(s), fewer than {options['min-proxy-heads']}",
                      hint="use a smaller head_dim at the proxy or a wider proxy")
    for name, res in targets:
        m = res.ratios["width"]
        if m > options["max-width-ratio"]:
            yield Finding(ctx.size_path(name, "model", "width"),
                          f"size '{name}' is {m:g}× the proxy's width (bound {options['max-width-ratio']:g}×)",
                          hint="transfer in two steps through an intermediate proxy, or widen the proxy")
