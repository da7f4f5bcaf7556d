"""Tied embeddings with readout settings the shared matrix cannot follow.

With tied embeddings the readout *is* the embedding matrix: it gets one learning rate, one weight
decay and one init. muP keeps a tied readout consistent only in the multiplier form (Tensor Programs
V, Table 8; mup's ``MuSharedReadout``): the shared matrix follows the embedding's rules and the
readout is controlled by ``init.output_multiplier`` alone. Output-class values that differ from the
embedding's (set per class, overridden at a size, or produced by a rule set in the no-multiplier
form, output LR ∝ 1/m) cannot be applied.

**Anti-pattern**

```yaml
model: {tied_embeddings: true}
init: {output_multiplier: 2.0}
optimizer:
  per_class:
    output: {lr: 1.0e-3}          # the readout has no matrix of its own
```

**Best practice**

```yaml
model: {tied_embeddings: true}
init: {output_multiplier: 2.0}    # the readout's only control; the matrix follows the embedding
```
"""

from recipec.lint.base import Finding, fmt

CODE = "RC203"
NAME = "tied-readout"
SEVERITY = "warning"
SUMMARY = "Tied embeddings: output-class values differ from the embedding's (only the readout multiplier can)."
RATIONALE = ("A tied readout shares the embedding's parameters; only the forward multiplier can differ, so "
             "output-class LR, weight decay or init that differ from the embedding's are silently not applied.")
CITATION = ("Yang et al. 2022, Tensor Programs V, arXiv:2203.03466, Table 8; mup MuSharedReadout, "
            "https://github.com/microsoft/mup/blob/2ed42d0c8b0781636e2ae71b0825cd1e5c5238f2/mup/layer.py")
OPTIONS: dict = {}


def check(ctx, options):
    r = ctx.recipe
    if not r.model.tied_embeddings:
        return
    for rule in ctx.power_rules("output", None, "width"):
        if rule.hp in ("lr", "init_std"):
            yield Finding(ctx.transfer_path(rule.index),
                          f"rule set '{rule.ruleset}' scales the readout's {rule.hp} with width, which a tied readout "
                          f"(the embedding matrix) cannot follow",
                          hint="use the multiplier form (output_multiplier ∝ 1/m), e.g. fan2025 or mup-adamw")
    seen: set = set()
    for name, res in [("proxy", ctx.proxy), *ctx.targets()]:
        emb, out = res.classes["embedding"], res.classes["output"]
        for hp in ("lr", "weight_decay", "init_std"):
            a, b = getattr(emb, hp), getattr(out, hp)
            if a is None or b is None or abs(a.value - b.value) <= 1e-12 * max(abs(a.value), abs(b.value)):
                continue
            over = ("sizes", name, "overrides", "output", hp)
            path = over if ctx.loaded.source_map.has(over) else ctx.proxy_hp_path("output", hp)
            if (path, hp) in seen:
                continue
            seen.add((path, hp))
            yield Finding(path, f"tied embeddings: output.{hp} = {fmt(b.value)} differs from embedding.{hp} = "
                                f"{fmt(a.value)} at {'the proxy' if name == 'proxy' else f'size {name!r}'}, but the "
                                f"readout is the embedding matrix",
                          hint="control the readout with init.output_multiplier only")
