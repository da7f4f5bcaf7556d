"""Tokens per parameter at a size far from the proxy's.

Optimal hyperparameters depend on how long a model trains relative to its size (the LR and the AdamW
timescale both shift with D/N). A proxy tuned at 20 tokens per parameter does not predict a target
trained at 2,000. Fires when a size's tokens/parameter differs from the proxy's by more than
``max-ratio`` (default 4×).

**Anti-pattern**

```yaml
run: {tokens: 1_000_000_000}             # ~15 tokens/param at the proxy
sizes:
  1b: {model: {width: 2048}, run: {tokens: 2_000_000_000_000}}   # ~1,300 tokens/param
```

**Best practice**

```yaml
run: {tokens: 1_000_000_000}
sizes:
  1b: {model: {width: 2048}, run: {tokens: 30_000_000_000}}
```
"""

from recipec.lint.base import Finding, rel_change

CODE = "RC503"
NAME = "tokens-per-param"
SEVERITY = "warning"
SUMMARY = "Tokens per parameter at a size far from the proxy's."
RATIONALE = ("The optimal LR and weight decay move with the data/parameter ratio (η_opt ∝ N^-0.713·D^0.307 in "
             "Step Law); transfer in width assumes the ratio stays comparable.")
CITATION = "Li et al. 2025, Step Law, arXiv:2503.04715; Wang & Aitchison 2024, arXiv:2405.13698"
OPTIONS = {"max-ratio": 4.0}


def check(ctx, options):
    p = ctx.proxy.derived.tokens_per_param
    for name, res in ctx.targets():
        t = res.derived.tokens_per_param
        if rel_change(t, p) > options["max-ratio"]:
            path = ctx.size_path(name, "run", "tokens")
            if path[-1] != "tokens":
                path = ctx.size_path(name, "run", "steps")
            yield Finding(path, f"size '{name}' trains on {t:,.1f} tokens per parameter, the proxy on {p:,.1f} "
                                f"({rel_change(t, p):.1f}× apart)",
                          hint="bring the proxy's tokens/parameter closer to the target's")
