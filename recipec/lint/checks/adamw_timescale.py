"""The AdamW timescale τ, as a fraction of the run, changes by more than ``max-ratio`` (default 2×).

AdamW's weights are an exponential moving average of recent updates with timescale τ = 1/(η·λ) steps
(coupled λ). Wang & Aitchison 2024 find the optimal τ as a fraction of the run (τ_epoch = τ·B/D)
roughly constant across model and data sizes; when the target's η, λ, batch or token budget move it by
more than 2×, the target averages over a different share of its training than the tuned proxy. Checked
on the hidden matrices that AdamW trains; the finding points at the hidden weight decay, the value that
sets τ. In a Muon recipe whose hidden matrices all train with Muon there is no AdamW hidden group and
the check is quiet: the timescale law is published for AdamW, and carrying it over to Muon (whose
update is not AdamW-sized) is an untested assumption, so recipec does not flag Muon's τ (``recipec
explain`` prints it).

**Anti-pattern**

```yaml
optimizer: {lr: 3.0e-3, weight_decay: 0.1, wd_convention: coupled}
transfer: [mup-adamw]            # τ in steps fixed
sizes:
  8b: {model: {width: 4096}, run: {tokens: 209_715_200_000}}   # 80× the steps
```

**Best practice**

```yaml
optimizer: {lr: 3.0e-3, weight_decay: 0.1, wd_convention: coupled}
transfer: [mup-adamw, adamw-timescale]   # λ ∝ 1/t keeps τ/run fixed
sizes:
  8b: {model: {width: 4096}, run: {tokens: 209_715_200_000}}
```
"""

from recipec.lint.base import Finding, rel_change

CODE = "RC502"
NAME = "adamw-timescale"
SEVERITY = "warning"
SUMMARY = "The AdamW timescale τ = 1/(η·λ), as a fraction of the run, changes by more than 2×."
RATIONALE = ("The optimal AdamW EMA timescale is roughly a fixed fraction of the run across model and data "
             "sizes.")
CITATION = ("Wang & Aitchison 2024, How to set AdamW's weight decay as you scale model and dataset size, "
            "arXiv:2405.13698")
OPTIONS = {"max-ratio": 2.0}


def check(ctx, options):
    p = ctx.proxy.derived.adamw_timescale_fraction
    if p is None or not ctx.main_kinds("hidden"):
        return  # no weight decay, or no hidden matrix trains with AdamW (Muon trains them all)
    anchor = ctx.proxy_hp_path("hidden", "weight_decay")
    for name, res in ctx.targets():
        t = res.derived.adamw_timescale_fraction
        if t is None:
            continue
        if rel_change(t, p) > options["max-ratio"]:
            over = ("sizes", name, "overrides", "hidden", "weight_decay")
            path = over if ctx.loaded.source_map.has(over) else anchor
            yield Finding(path, f"AdamW timescale τ = 1/(η·λ) is {t:.3g} of the run at size '{name}' but {p:.3g} at "
                                f"the proxy ({rel_change(t, p):.1f}× apart)",
                          hint="scale weight decay with the token budget (adamw-timescale), or verify τ at the target")
