"""Attention logits scaled by 1/√d_head while d_head changes between sizes.

muP scales attention logits by 1/d_head (Tensor Programs V): with 1/√d_head the logits of a wider
head grow as the query and key become correlated in training, so a proxy with another head size does
not predict the target. This only matters when the head dimension changes; grow the number of heads
instead, or add a rule set with an ``attn_logit_scale`` rule on the ``head_dim`` axis.

**Anti-pattern**

```yaml
model: {width: 256, heads: 4}      # head_dim 64
sizes:
  1b: {model: {width: 2048, heads: 16}}   # head_dim 128, logits still 1/sqrt(d_head)
```

**Best practice**

```yaml
model: {width: 256, head_dim: 64}
sizes:
  1b: {model: {width: 2048}}        # head_dim stays 64, heads grow to 32
```
"""

from recipec.lint.base import Finding

CODE = "RC202"
NAME = "attn-scale-head-dim"
SEVERITY = "warning"
SUMMARY = "Attention scale 1/√d_head while the head dimension changes between proxy and target."
RATIONALE = "muP's attention uses 1/d_head; 1/√d_head only transfers when d_head is the same at both sizes."
CITATION = ("Yang et al. 2022, Tensor Programs V, arXiv:2203.03466 (attention logit 1/d); mup README, "
            "https://github.com/microsoft/mup/blob/2ed42d0c8b0781636e2ae71b0825cd1e5c5238f2/README.md")
OPTIONS: dict = {}


def check(ctx, options):
    if ctx.power_rules(None, "attn_logit_scale", None):
        return
    for name, res in ctx.targets():
        if res.ratios["head_dim"] == 1:
            continue
        if any(s.ruleset == "default" for s in res.multipliers.attn_logit_scale.chain) or \
                ctx.recipe.init.attn_logit_scale is not None:
            path = ctx.size_path(name, "model", "head_dim")
            if path[-1] != "head_dim":
                path = ctx.size_path(name, "model", "heads")
            yield Finding(path, f"head_dim changes from {res.proxy_shape.head_dim} to {res.shape.head_dim} at size "
                                f"'{name}' but the attention logit scale follows 1/√d_head (muP: 1/d_head)",
                          hint="keep head_dim fixed (grow the number of heads), or add an attn_logit_scale rule on "
                               "the head_dim axis (exponent -1)")
