"""The global batch changes between sizes without a batch rule for the learning rate.

Below the critical batch size the optimal LR grows with the batch: linearly for SGD, as √b for
Adam/AdamW. A target trained on a different batch with the proxy's LR is off by that factor. Add
``adam-sqrt-batch`` (Adam/AdamW) or ``sgd-linear-batch`` (SGD), or an absolute scaling law that sets
the LR from the compute (``deepseek-2024``, ``step-law-2025``). In a Muon recipe the two groups are
checked apart: the main optimizer's batch rules (and absolute formulas) do not touch the kinds Muon
trains, so a batch change with Muon kinds present needs a batch rule with ``optimizer: muon`` for their
LR. recipec ships none (no Muon batch law is published that we have read): keep the proxy's batch, or
write one after checking the LR at the target batch.

**Anti-pattern**

```yaml
batch: {global_sequences: 64}
transfer: [fan2025]
sizes:
  8b: {batch: {global_sequences: 1024}}
```

**Best practice**

```yaml
batch: {global_sequences: 64}
transfer: [fan2025, adam-sqrt-batch]
sizes:
  8b: {batch: {global_sequences: 1024}}
```
"""

from recipec.lint.base import Finding

CODE = "RC402"
NAME = "batch-without-rule"
SEVERITY = "warning"
SUMMARY = "The batch changes between sizes but no rule set scales the learning rate with it."
RATIONALE = "The optimal LR depends on the batch (η ∝ b for SGD, η ∝ √b for Adam) below the critical batch."
CITATION = ("Malladi et al. 2022, arXiv:2205.10287 (Adam √b); Goyal et al. 2017, arXiv:1706.02677 (SGD linear); "
            "Granziol et al. 2022, arXiv:2006.09092")
OPTIONS: dict = {}


def check(ctx, options):
    # every class the main optimizer trains a kind of (a dense recipe: all of them) and the Muon kinds
    main_ok = bool(ctx.power_rules(None, "lr", "batch")) or ctx.has_formula("hidden", "lr")
    muon = [k for k in ctx.muon_kinds() if not ctx.rules_for_kind(k, "lr", "batch", muon=True)]
    if main_ok and not muon:
        return
    for name, res in ctx.targets():
        if res.ratios["batch"] == 1:
            continue
        path = ctx.size_path(name, "batch", "global_tokens")
        if path[-1] != "global_tokens":
            path = ctx.size_path(name, "batch", "global_sequences")
        if not main_ok:
            yield Finding(path, f"the batch is {res.ratios['batch']:g}× the proxy's at size '{name}' but no rule set "
                                f"scales the learning rate with the batch",
                          hint="add adam-sqrt-batch (Adam/AdamW) or sgd-linear-batch (SGD) to transfer")
        if muon:
            yield Finding(path, f"the batch is {res.ratios['batch']:g}× the proxy's at size '{name}' but no rule "
                                f"scales Muon's LR with the batch ({', '.join(muon)}; the main optimizer's batch "
                                f"rules do not reach them)",
                          hint="keep the proxy's batch, or add a batch rule with 'optimizer: muon' after checking "
                               "Muon's LR at the target batch")
