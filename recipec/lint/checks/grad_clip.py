"""The gradient-clipping threshold stays the same across a large change in parameter count.

The global gradient norm is a sum over every parameter, so its typical value moves with the model's
size and parametrization; a threshold tuned on the proxy clips a different fraction of steps at the
target (never, or always). The recipe has no per-size clipping value, so this is advice: measure the
target's gradient norm early in training, or disable clipping in the proxy's tuning if it never
engaged. Fires when a size has at least ``min-param-ratio`` (default 100) × the proxy's parameters.

**Anti-pattern**

```yaml
optimizer: {lr: 3.0e-3, grad_clip: 1.0}   # tuned at 70M parameters
sizes:
  70b: {model: {width: 8192, depth: 80}}  # the same 1.0 at 70B
```

**Best practice**

```yaml
optimizer: {lr: 3.0e-3, grad_clip: null}  # or a threshold checked at the target
sizes:
  70b: {model: {width: 8192, depth: 80}}
```
"""

from recipec.lint.base import Finding, fmt

CODE = "RC405"
NAME = "grad-clip-unchanged"
SEVERITY = "info"
SUMMARY = "Gradient-clipping threshold unchanged across a large parameter-count change."
RATIONALE = ("The global gradient norm depends on the number of parameters and the parametrization; a fixed "
             "threshold engages at a different point at the target.")
CITATION = "Wortsman et al. 2023, arXiv:2309.14322 (small-scale proxies of large-scale instabilities)"
OPTIONS = {"min-param-ratio": 100.0}


def check(ctx, options):
    clip = ctx.recipe.optimizer.grad_clip
    if not clip:
        return
    base = ctx.proxy.derived.total_params
    worst = max(((res.derived.total_params / base, name) for name, res in ctx.targets()), default=None)
    if worst is None or worst[0] < options["min-param-ratio"]:
        return
    path = ("optimizer", "grad_clip") if ctx.loaded.source_map.has(("optimizer", "grad_clip")) else ("optimizer",)
    yield Finding(path, f"gradient clipping at {fmt(clip)} is the same at size '{worst[1]}', which has "
                        f"{worst[0]:,.0f}× the proxy's parameters", prefer_key=path == ("optimizer",),
                  hint="check the target's gradient norm; the clip was tuned at the proxy")
