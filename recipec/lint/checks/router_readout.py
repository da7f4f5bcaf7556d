"""A mixture of experts' router not treated as a readout when the width changes.

The router maps the width to the number of experts, a fan-out that does not grow with width: by Tensor
Programs V's classification it is an *output* weight, whose Adam LR and init std both go as 1/fan_in in
the form without a forward multiplier (Table 3; no framework gives the router a multiplier). Treated as a
hidden matrix (LR 1/fan_in but init std fan_in^-1/2, as some codebases do) its logits at init grow as
√m; left alone (LR and init fixed) its logits' updates grow as m, and routing at the target is not the
proxy's. ``rules/mup-moe.yaml`` encodes the readout rules for the router.

Defined precisely: for a mixture-of-experts model, at each size where the router's fan-in (the width)
differs from the proxy's, the router's resolved LR and init std — each over its proxy value, less the
batch, token and depth rules, with any hand override counted — must equal fan_in_ratio^-1 within
``tolerance`` on the exponent (default 0.05). One finding per hyperparameter, at the first size that
shows it. The check also fires, at every size, when ``optimizer.muon.kinds`` lists ``router``: Muon's
orthogonalized update (and the rules made for it, which act on the hidden class) does not follow the
readout's 1/fan_in.

**Anti-pattern**

```yaml
model:
  width: 256
  moe: {num_experts: 8, top_k: 2}
transfer: [mup-adamw]            # the router keeps its LR and init std at every width
sizes:
  xl: {model: {width: 2048}}
```

**Best practice**

```yaml
model:
  width: 256
  moe: {num_experts: 8, top_k: 2}
transfer: [mup-adamw, mup-moe]   # router LR and init std ∝ 1/fan_in
sizes:
  xl: {model: {width: 2048}}
```
"""

from recipec.lint.base import Finding, exponent_of, kind_value, width_factor

CODE = "RC406"
NAME = "router-not-readout"
SEVERITY = "warning"
SUMMARY = "The MoE router's LR or init std does not follow muP's readout rule (1/fan_in) as the width changes."
RATIONALE = ("The router's fan-out (the number of experts) is finite: muP treats it as an output weight, Adam LR "
             "and init std ∝ 1/fan_in; a hidden-matrix or unscaled router changes its logits with width, and "
             "with them the routing the proxy was tuned with.")
CITATION = ("Yang et al. 2022, Tensor Programs V, arXiv:2203.03466, Table 3 (output weights: LR 1/fan_in, init "
            "variance 1/fan_in^2)")
OPTIONS = {"tolerance": 0.05}

_WANT = -1.0  # TP5 Table 3, output weights: Adam LR 1/fan_in; init std 1/fan_in (variance 1/fan_in^2)


def check(ctx, options):
    if not ctx.proxy.shape.moe or "router" not in ctx.proxy.kinds:
        return
    muon = ctx.recipe.optimizer.muon
    trained_by_muon = muon is not None and "router" in muon.kinds
    if trained_by_muon:
        yield Finding(("optimizer", "muon", "kinds", list(muon.kinds).index("router")),
                      "Muon trains the router, a readout-like matrix (fan-out = num_experts): its update does not "
                      "follow the readout's LR ∝ 1/fan_in",
                      hint="remove 'router' from optimizer.muon.kinds and add mup-moe to transfer")
    seen: set = set()
    for name, res in ctx.targets():
        ratio = res.kinds["router"].fan_in_ratio
        if ratio == 1:
            continue
        for hp in ("lr", "init_std"):
            if hp in seen or (hp == "lr" and trained_by_muon):
                continue
            v = kind_value(res, "router", hp)
            factor = width_factor(v)
            if factor is None or factor <= 0:
                continue
            got = exponent_of(factor, ratio)
            if abs(got - _WANT) <= options["tolerance"]:
                continue
            seen.add(hp)
            over = ("sizes", name, "overrides", "output", hp)
            path = over if ctx.loaded.source_map.has(over) else ("transfer",)
            yield Finding(path, f"the router's {hp} at size '{name}' scales as fan_in^{got:.2f} (fan-in ×{ratio:g}); "
                                f"a readout's goes as fan_in^-1", prefer_key=path == ("transfer",),
                          hint="add mup-moe to transfer (router LR and init std ∝ 1/fan_in)")
