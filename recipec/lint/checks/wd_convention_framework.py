"""The recipe's weight-decay convention differs from the target framework's.

torchtitan, Megatron-LM and the transformers Trainer all use torch's coupled AdamW form
(``w -= lr·wd·w``). A recipe written in the independent form must be converted per size, at that
size's learning rate (λ = λ'/η): ``recipec compile`` does this, but a value copied into a launch
script by hand does not, and it is off by a factor of η (~10^3). Only checked with ``--target``.
Muon's weight decay has its own ``optimizer.muon.wd_convention`` and is checked the same way.

**Anti-pattern**

```yaml
# recipec lint --target megatron
optimizer: {lr: 1.0e-2, weight_decay: 1.0e-4, wd_convention: independent}
```

**Best practice**

```yaml
# recipec lint --target megatron
optimizer: {lr: 1.0e-2, weight_decay: 1.0e-2, wd_convention: coupled}
```
"""

from recipec.lint.base import Finding

CODE = "RC104"
NAME = "wd-convention-framework"
SEVERITY = "info"
SUMMARY = "The weight-decay convention differs from the target framework's (a conversion is needed)."
RATIONALE = ("The framework reads coupled λ; an independent λ' must be divided by each size's LR, so the "
             "number in the recipe is not the number in the framework's config.")
CITATION = ("All coupled (w -= lr·λ·w): torch.optim.AdamW, which torchtitan 0.3 and the transformers 5 Trainer use, "
            "https://github.com/pytorch/pytorch/blob/v2.13.0/torch/optim/adam.py; "
            "Megatron-LM's Adam is TE / Apex FusedAdam or torch AdamW (megatron-core 0.19.2), "
            "https://github.com/NVIDIA/Megatron-LM/blob/core_v0.19.2/megatron/core/optimizer/__init__.py")
OPTIONS: dict = {}

FRAMEWORK_CONVENTION = {"torchtitan": "coupled", "megatron": "coupled", "hf": "coupled"}


def check(ctx, options):
    want = FRAMEWORK_CONVENTION.get(ctx.target)
    if want is None:
        return
    m = ctx.recipe.optimizer.muon
    if m is not None and m.weight_decay > 0 and m.wd_convention not in (None, want):
        yield Finding(("optimizer", "muon", "wd_convention"),
                      f"Muon's weight decay is written {m.wd_convention} but {ctx.target} uses the {want} form: "
                      f"each size's value is converted at its own Muon LR (λ = λ'/η)",
                      hint="use the values recipec compile writes")
    conv = ctx.recipe.optimizer.wd_convention
    if conv is None or conv == want:
        return
    if not any(ctx.proxy.classes[c].weight_decay.proxy > 0 for c in ctx.proxy.classes):
        return
    yield Finding(("optimizer", "wd_convention"),
                  f"weight decay is written {conv} but {ctx.target} uses the {want} form: each size's value is "
                  f"converted at its own LR (λ = λ'/η); do not copy the recipe's number into the framework's config",
                  hint="use the values recipec compile writes")
