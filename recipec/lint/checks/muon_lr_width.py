"""Muon's learning rate not scaled by the matrices' fan ratios when the width changes.

Muon's update is η·s·O with O the orthogonalized momentum (spectral norm about 1) and s the optimizer's own
per-matrix factor (``optimizer.muon.adjust_lr``: √max(1, fan_out/fan_in) for ``original``, 0.2·√max(fan_out,
fan_in) for ``match_rms_adamw``). The spectral condition for feature learning asks ‖ΔW‖ ∝ √(fan_out/fan_in),
so the base LR must move as g = √(fan_out/fan_in)/s between proxy and target: not at all under
``original`` while every matrix keeps its aspect ratio, as √fan^-1 under ``match_rms_adamw``. A width
rule set made for AdamW (``optimizer: main``) does not touch the Muon kinds.

At every size whose width differs from the proxy's, for the kinds Muon trains, the check fires

* when no rule with ``optimizer: muon`` sets their ``lr`` on the width axis by a fan ratio (``ratio:
  spectral``, ``fan_in`` or ``fan_out``), e.g. ``muon-spectral``: the LR then relies on the optimizer's
  own factor being exactly right, which it is not once an aspect ratio changes or under
  ``match_rms_adamw``; and
* when such rules exist but the LR they give (less the batch, token and depth rules) is more than
  ``tolerance`` (default 5 %) away from the spectral ratio g(target)/g(proxy) of the kind.

**Anti-pattern**

```yaml
optimizer:
  name: adamw
  lr: 4.0e-3
  muon: {lr: 3.0e-3, adjust_lr: match_rms_adamw}
transfer: [fan2025]          # AdamW's rules only: Muon's LR stays 3e-3 at every width
sizes:
  xl: {model: {width: 2048}}
```

**Best practice**

```yaml
optimizer:
  name: adamw
  lr: 4.0e-3
  muon: {lr: 3.0e-3, adjust_lr: match_rms_adamw}
transfer: [fan2025, muon-spectral]   # η_muon · g(target)/g(proxy) per kind
sizes:
  xl: {model: {width: 2048}}
```
"""

from recipec.kinds import spectral_target
from recipec.lint.base import Finding, rel_change, width_factor

CODE = "RC409"
NAME = "muon-lr-width"
SEVERITY = "warning"
SUMMARY = "The width changes but Muon's LR is not scaled by the matrices' fan (spectral) ratios."
RATIONALE = ("Muon's update spectral norm is η·s; feature learning at every width needs it ∝ √(fan_out/fan_in), "
             "so the base LR must follow √(fan_out/fan_in)/s, which moves with width under match_rms_adamw and "
             "whenever an aspect ratio changes.")
CITATION = ("Yang, Simon & Bernstein 2023, A Spectral Condition for Feature Learning, arXiv:2310.17813; "
            "torch 2.13 _adjust_lr (l.73-84), https://github.com/pytorch/pytorch/blob/v2.13.0/torch/optim/_muon.py; "
            "Liu et al. 2025, arXiv:2502.16982 Eq. 4")
OPTIONS = {"tolerance": 0.05}

_FAN_RATIOS = ("spectral", "fan_in", "fan_out")


def check(ctx, options):
    muon = ctx.recipe.optimizer.muon
    if muon is None or not ctx.muon_kinds():
        return
    for name, res in ctx.targets():
        if res.ratios["width"] == 1:
            continue
        missing, off = [], []
        first_rule = None
        for kind in ctx.muon_kinds(res):
            rules = [r for r in ctx.rules_for_kind(kind, "lr", "width", muon=True) if r.ratio in _FAN_RATIOS]
            if not rules:
                missing.append(kind)
                continue
            first_rule = first_rule or rules[0]
            got = width_factor(res.kinds[kind].lr)
            want = spectral_target(kind, res.shape, muon.adjust_lr) / spectral_target(kind, res.proxy_shape,
                                                                                     muon.adjust_lr)
            if got is not None and rel_change(got, want) > 1 + options["tolerance"]:
                off.append(f"{kind} ×{got:.3g} (spectral ×{want:.3g})")
        m = res.ratios["width"]
        if missing:
            yield Finding(("optimizer", "muon", "lr"),
                          f"the width is {m:g}× the proxy's at size '{name}' but no rule scales Muon's LR by a fan "
                          f"ratio for {', '.join(missing)} (adjust_lr '{muon.adjust_lr}')",
                          hint="add muon-spectral to transfer (η ∝ √(fan_out/fan_in)/s per kind)")
        if off:
            yield Finding(ctx.transfer_path(first_rule.index),
                          f"Muon's LR at size '{name}' does not follow the spectral condition: {'; '.join(off)}",
                          hint="use ratio: spectral with exponent 1 (muon-spectral), or remove the hand-set value")
