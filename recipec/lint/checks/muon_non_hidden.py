"""Muon trains the token embedding or the readout.

Muon orthogonalizes each matrix's momentum (Newton–Schulz), which only makes sense for a matrix that maps
one hidden representation to another. The embedding table is a lookup (each row sees the gradient of its
own tokens) and the readout maps to the vocabulary: their references train them with AdamW, as recipec's
default ``optimizer.muon.kinds`` does (every hidden matrix and nothing else). The check fires for each of
``embedding`` and ``output`` listed in ``optimizer.muon.kinds``. Norm gains and biases cannot be listed at
all: the recipe schema refuses any kind that is not a matrix (RC001). A mixture of experts' router is
readout-like too; Muon on the router is reported by RC406 (router-not-readout), not here.

**Anti-pattern**

```yaml
optimizer:
  name: adamw
  lr: 3.0e-3
  muon:
    lr: 0.02
    kinds: [q, k, v, o, mlp_in, mlp_out, embedding, output]
```

**Best practice**

```yaml
optimizer:
  name: adamw            # the embedding, readout and norm gains
  lr: 3.0e-3
  muon:
    lr: 0.02             # the hidden matrices (the default kinds)
```
"""

from recipec.lint.base import Finding

CODE = "RC408"
NAME = "muon-non-hidden"
SEVERITY = "warning"
SUMMARY = "Muon trains the token embedding or the readout, which its references train with AdamW."
RATIONALE = ("Muon's orthogonalized update is made for hidden matrices; the embedding (a lookup table) and the "
             "readout (to the vocabulary) are trained with AdamW in Muon's reference and in torch.optim.Muon's "
             "documentation, and Megatron routes them to Adam.")
CITATION = ("Keller Jordan, Muon README, https://github.com/KellerJordan/Muon/blob/50c4225/README.md "
            "('Usage': embeddings and classifier heads use AdamW); torch 2.13 Muon docstring (l.262-263), "
            "https://github.com/pytorch/pytorch/blob/v2.13.0/torch/optim/_muon.py")
OPTIONS: dict = {}

_WHAT = {"embedding": "the token embedding (a lookup table)", "output": "the readout (width → vocabulary)"}


def check(ctx, options):
    muon = ctx.recipe.optimizer.muon
    if muon is None:
        return
    for i, kind in enumerate(muon.kinds):
        if kind not in _WHAT:
            continue
        absent = "" if kind in ctx.proxy.kinds else " (the model has none: its readout is tied to the embedding)"
        yield Finding(("optimizer", "muon", "kinds", i),
                      f"Muon trains {_WHAT[kind]}{absent}; Muon is for hidden matrices",
                      hint=f"remove '{kind}' from optimizer.muon.kinds: the main optimizer "
                           f"({ctx.recipe.optimizer.name}) trains it then")
