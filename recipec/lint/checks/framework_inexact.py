"""The target framework cannot express a per-class value exactly.

Checked with ``--target``. Megatron-LM gives 1-D parameters and biases no weight decay, decays the
embedding and output matrices with ``--weight-decay``, trains norm gains at the base LR, gives
embedding and output one ``--decoupled-lr`` and has one ``--adam-eps`` (``--use-mup`` divides the
hidden one by m). The transformers Trainer has one LR, decays every matrix (embeddings included) and
nothing else, and one ε. torchtitan's per-group ``ParamGroupConfig`` expresses every class exactly.
Anything else needs code (``config_overrides``, a custom optimizer), which a rendered config cannot
hold.

**Anti-pattern**

```yaml
# recipec lint --target hf
transfer: [fan2025]     # hidden LR ∝ 1/m, embedding LR fixed: two LRs
```

**Best practice**

```yaml
# recipec lint --target torchtitan   (per-group LR and WD are native)
transfer: [fan2025]
```
"""

from recipec.lint.base import Finding, fmt

CODE = "RC603"
NAME = "framework-inexact"
SEVERITY = "warning"
SUMMARY = "The target framework cannot express a per-class value exactly."
RATIONALE = ("A value the framework cannot express is silently replaced by the framework's default grouping, "
             "so the run is not the compiled recipe.")
CITATION = "FRAMEWORKS.md; RULES-REFERENCE.md 'How frameworks express these'"
OPTIONS: dict = {}


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1e-300)


def _megatron(res):
    c = res.classes
    if c["vector"].weight_decay.value > 0:
        yield "vector", "weight_decay", "Megatron gives 1-D parameters and biases no weight decay"
    if not _close(c["embedding"].lr.value, c["output"].lr.value):
        yield "output", "lr", "Megatron's --decoupled-lr gives embedding and output one LR"
    m = res.ratios["width"]  # --use-mup --mup-base-hidden-size <proxy width> divides the hidden LR by m
    if not any(_close(c["vector"].lr.value, c["hidden"].lr.value * f) for f in (1.0, m)):
        yield "vector", "lr", "Megatron trains norm gains and biases at the base LR (the hidden LR, times m with --use-mup)"
    for cls in ("embedding", "output"):
        if not _close(c[cls].weight_decay.value, c["hidden"].weight_decay.value):
            yield cls, "weight_decay", f"Megatron decays the {cls} matrix with --weight-decay, as the hidden ones"
    if len({c[k].eps.value for k in ("embedding", "output", "vector")}) > 1:
        yield "output", "eps", "Megatron has one --adam-eps"


def _hf(res):
    c = res.classes
    lrs = {k: c[k].lr.value for k in c}
    if any(not _close(v, lrs["hidden"]) for v in lrs.values()):
        odd = next(k for k, v in lrs.items() if not _close(v, lrs["hidden"]))
        yield odd, "lr", "the transformers Trainer has one learning rate"
    for cls in ("embedding", "output"):
        if not _close(c[cls].weight_decay.value, c["hidden"].weight_decay.value):
            yield cls, "weight_decay", "the transformers Trainer decays every matrix (embeddings included) alike"
    if c["vector"].weight_decay.value > 0:
        yield "vector", "weight_decay", "the transformers Trainer gives norm weights and biases no weight decay"
    if len({c[k].eps.value for k in c}) > 1:
        yield "hidden", "eps", "the transformers Trainer has one adam_epsilon"


_FRAMEWORKS = {"megatron": _megatron, "hf": _hf}


def check(ctx, options):
    fn = _FRAMEWORKS.get(ctx.target)
    if fn is None:
        return
    seen: set = set()
    for name, res in [("proxy", ctx.proxy), *ctx.targets()]:
        for cls, hp, why in fn(res):
            if why in seen:
                continue
            seen.add(why)
            over = ("sizes", name, "overrides", cls, hp)
            if ctx.loaded.source_map.has(over):
                path = over
            elif name == "proxy":
                path = ctx.proxy_hp_path(cls, hp)
            else:
                path = ("sizes", name)
            value = getattr(res.classes[cls], hp).value
            where = "the proxy" if name == "proxy" else f"size '{name}'"
            yield Finding(path, f"{ctx.target}: {why}; {cls}.{hp} = {fmt(value)} at {where} cannot be expressed",
                          prefer_key=path == ("sizes", name),
                          hint="use --target torchtitan, or change the recipe so the classes agree")
