"""Weight-decay convention missing, or a value that looks like the other convention.

"Coupled" decay is torch AdamW's ``w -= lr·wd·w``; "independent" is ``w -= wd·w``. The same number
means a thousand-fold different decay in the two forms, so recipec needs the convention whenever any
decay is set (sizes' overrides included), and it checks that the value is plausible for the declared
form: a coupled λ below ``min-coupled`` (default 1e-3) decays by η·λ < 1e-5 per step, which is what
an independent value looks like; an independent λ' above ``max-independent`` (default 1e-2) removes
more than 1% of every weight per step, which is what a coupled value looks like. Muon's weight decay
(``optimizer.muon.weight_decay`` with its own ``wd_convention``) is judged the same way, at Muon's LR.

**Anti-pattern**

```yaml
optimizer:
  lr: 3.0e-3
  weight_decay: 1.0e-4
  wd_convention: coupled      # 1e-4 is an independent-form value
```

**Best practice**

```yaml
optimizer:
  lr: 3.0e-3
  weight_decay: 1.0e-4
  wd_convention: independent
```
"""

from recipec.lint.base import PARAM_CLASSES, Finding, fmt

CODE = "RC103"
NAME = "wd-convention"
SEVERITY = "warning"
SUMMARY = "Weight-decay convention missing, or a value implausible for the declared convention."
RATIONALE = ("Coupled and independent decay differ by a factor η (~10^3); rule sets state exponents in one form "
             "and recipec converts, which is only right if the declared form is the one the value was tuned in.")
CITATION = ("Loshchilov & Hutter 2019, Decoupled Weight Decay Regularization, arXiv:1711.05101 "
            "(coupled vs independent); torch.optim.AdamW is coupled, w -= lr·λ·w: "
            "https://github.com/pytorch/pytorch/blob/v2.13.0/torch/optim/adam.py; "
            "Wang & Aitchison 2024, arXiv:2405.13698")
OPTIONS = {"min-coupled": 1e-3, "max-independent": 1e-2}


def check(ctx, options):
    r = ctx.recipe
    opt = r.optimizer
    if opt.wd_convention is None:
        for name, size in r.sizes.items():
            for cls in PARAM_CLASSES:
                ov = getattr(size.overrides, cls)
                if ov is not None and ov.weight_decay:
                    yield Finding(("sizes", name, "overrides", cls, "weight_decay"),
                                  "weight decay is set here but optimizer.wd_convention is missing",
                                  hint="say 'coupled' (torch AdamW, lr·wd) or 'independent' in optimizer.wd_convention")
        yield from _muon(ctx, options)
        return
    for cls in PARAM_CLASSES:
        path = ctx.proxy_hp_path(cls, "weight_decay")
        if cls != "hidden" and path == ("optimizer", "weight_decay"):
            continue  # the shared value is judged once, as the hidden class's
        lam = ctx.proxy.classes[cls].weight_decay.proxy
        if lam <= 0:
            continue
        if opt.wd_convention == "coupled" and lam < options["min-coupled"]:
            yield Finding(path, f"coupled weight decay {fmt(lam)} decays by "
                                f"η·λ = {fmt(lam * ctx.proxy.classes[cls].lr.proxy)} per step; "
                                f"this looks like an independent-form value",
                          hint="check optimizer.wd_convention")
        elif opt.wd_convention == "independent" and lam > options["max-independent"]:
            yield Finding(path, f"independent weight decay {fmt(lam)} removes {lam:.0%} of every weight per step; "
                                f"this looks like a coupled-form (torch AdamW) value",
                          hint="check optimizer.wd_convention")
    yield from _muon(ctx, options)


def _muon(ctx, options):
    m = ctx.recipe.optimizer.muon
    if m is None or m.weight_decay <= 0 or m.wd_convention is None:
        return
    path = ("optimizer", "muon", "weight_decay")
    if m.wd_convention == "coupled" and m.weight_decay < options["min-coupled"]:
        yield Finding(path, f"coupled Muon weight decay {fmt(m.weight_decay)} decays by η·λ = "
                            f"{fmt(m.weight_decay * m.lr)} per step; this looks like an independent-form value",
                      hint="check optimizer.muon.wd_convention")
    elif m.wd_convention == "independent" and m.weight_decay > options["max-independent"]:
        yield Finding(path, f"independent Muon weight decay {fmt(m.weight_decay)} removes {m.weight_decay:.0%} of "
                            f"every weight per step; this looks like a coupled-form (torch.optim.Muon) value",
                      hint="check optimizer.muon.wd_convention")
