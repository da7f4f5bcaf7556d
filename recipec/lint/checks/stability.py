"""A high learning rate at a large size with neither qk-norm nor z-loss.

Wortsman et al. 2023 reproduce two large-scale instabilities in small models trained at high LR:
attention-logit growth (fixed by qk-layernorm) and output-logit divergence (fixed by z-loss, 1e-4).
Both get worse with scale. The check fires at a size with at least ``large-params`` (default 1e9)
parameters whose hidden or output LR is at least ``high-lr`` (default 1e-3) when the model has
neither ``qk_norm`` nor ``z_loss``. The LR is the main optimizer's (AdamW/Adam/SGD) for a class it trains
some kind of; Muon's LR is in other units (spectral norm per step, 0.02 is usual) and is not compared.

**Anti-pattern**

```yaml
model: {qk_norm: false}
optimizer: {lr: 1.0e-2, z_loss: 0.0}
```

**Best practice**

```yaml
model: {qk_norm: true}
optimizer: {lr: 1.0e-2, z_loss: 1.0e-4}
```
"""

from recipec.lint.base import Finding, fmt

CODE = "RC602"
NAME = "high-lr-stability"
SEVERITY = "warning"
SUMMARY = "High learning rate at large scale without qk-norm or z-loss."
RATIONALE = ("Attention-logit growth and output-logit divergence appear at high LR and grow with scale; qk-norm "
             "and z-loss suppress them.")
CITATION = ("Wortsman et al. 2023, Small-scale proxies for large-scale Transformer training instabilities, "
            "arXiv:2309.14322")
OPTIONS = {"large-params": 1e9, "high-lr": 1e-3}


def check(ctx, options):
    r = ctx.recipe
    if r.model.qk_norm or r.optimizer.z_loss > 0:
        return
    for name, res in ctx.targets():
        if res.derived.total_params < options["large-params"]:
            continue
        # the main optimizer's LR, for the classes it trains a kind of: a Muon LR is in other units
        lrs = [res.classes[c].lr.value for c in ("hidden", "output") if not ctx.muon_only(c, res)]
        if not lrs:
            continue
        lr = max(lrs)
        if lr < options["high-lr"]:
            continue
        smap = ctx.loaded.source_map
        path = next((p for p in (("model", "qk_norm"), ("optimizer", "z_loss")) if smap.has(p)), ("model",))
        yield Finding(path, f"size '{name}' ({res.derived.total_params / 1e9:.1f}B parameters) trains at LR {fmt(lr)} "
                            f"with neither qk-norm nor z-loss", prefer_key=path == ("model",),
                      hint="set model.qk_norm: true or optimizer.z_loss: 1.0e-4")
        return
