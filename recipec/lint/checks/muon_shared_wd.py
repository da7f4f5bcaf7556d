"""One weight decay shared by the Muon matrices and the AdamW parameters, with Muon's own update scale.

Under coupled decay a weight settles where the decay η·λ·W balances the update, so the same λ means a
different equilibrium for two optimizers whose updates differ in size. AdamW's update has an RMS of about
0.2·η; Muon's ``original`` scaling (Keller Jordan's reference, torch.optim.Muon's default) gives its update
unit spectral norm, not AdamW's RMS, so a λ tuned for one group is not the other's (levanter#1147 separated
the two for this reason). Moonlight's ``match_rms_adamw`` scales Muon's update to AdamW's RMS precisely so
that one LR and one λ serve both; there the shared value is the design and the check is quiet.

It fires when ``optimizer.muon.adjust_lr`` is ``original``, ``optimizer.muon.weight_decay`` is non-zero,
and a kind the main optimizer trains (the embedding, the readout, the router, norm gains, or a hidden
matrix left out of ``muon.kinds``) has the very same proxy weight decay, written in the same convention
(``optimizer.per_kind`` wins over ``per_class`` wins over ``optimizer.weight_decay``, as recipec resolves
it). Different numbers, or a zero on either side, are a deliberate choice and pass.

**Anti-pattern**

```yaml
optimizer:
  name: adamw
  lr: 3.0e-3
  weight_decay: 0.1        # embedding and readout
  wd_convention: coupled
  muon: {lr: 0.02, weight_decay: 0.1, wd_convention: coupled, adjust_lr: original}
```

**Best practice**

```yaml
optimizer:
  name: adamw
  lr: 3.0e-3
  weight_decay: 0.0        # embedding, readout and norms: no decay
  wd_convention: coupled
  muon: {lr: 0.02, weight_decay: 0.1, wd_convention: coupled, adjust_lr: original}
```
"""

import math

from recipec.lint.base import Finding, fmt, kind_value

CODE = "RC105"
NAME = "muon-shared-weight-decay"
SEVERITY = "warning"
SUMMARY = "Muon ('original' scaling) and the AdamW part share one weight decay though their updates differ in size."
RATIONALE = ("The equilibrium weight norm under coupled decay depends on the update size over η·λ; Muon's "
             "unit-spectral-norm update and AdamW's ~0.2·η RMS update need their own λ unless Muon's update is "
             "RMS-matched to AdamW's (match_rms_adamw).")
CITATION = ("https://github.com/marin-community/levanter/pull/1147 (separate Muon and AdamW weight decay); "
            "Liu et al. 2025, Moonlight, arXiv:2502.16982 Eq. 4 (0.2·√max(A,B) lets Muon reuse AdamW's LR and "
            "weight decay)")
OPTIONS: dict = {}


def check(ctx, options):
    opt = ctx.recipe.optimizer
    muon = opt.muon
    if muon is None or muon.adjust_lr != "original" or muon.weight_decay <= 0:
        return
    if (muon.wd_convention or "coupled") != (opt.wd_convention or "coupled"):
        return
    shared = [k for k, v in ctx.proxy.kinds.items() if v.optimizer != "muon" and
              math.isclose(kind_value(ctx.proxy, k, "weight_decay").proxy, muon.weight_decay, rel_tol=1e-9)]
    if shared:
        yield Finding(("optimizer", "muon", "weight_decay"),
                      f"Muon's weight decay {fmt(muon.weight_decay)} is also {opt.name}'s on {', '.join(shared)}, but "
                      f"Muon's 'original' update is not AdamW-sized: one λ gives the two groups different decay",
                      hint="tune a separate weight decay for each group, or use adjust_lr: match_rms_adamw "
                           "(Moonlight), under which one value serves both")
