"""The target's batch is beyond an estimate of the critical batch size.

Batch rules (√b for Adam, linear for SGD) hold below the critical batch (McCandlish et al. 2018);
beyond it a larger batch stops buying fewer steps and the transferred LR is too high. recipec
estimates the compute-optimal batch with DeepSeek's B_opt = 0.2920·C^0.3271 tokens (or the batch a
rule set in ``transfer`` recommends) and reports a size whose batch exceeds ``factor`` (default 4) ×
that estimate. Only sizes are checked: the question is whether the target stays where the rule holds.

**Anti-pattern**

```yaml
sizes:
  1b:
    model: {width: 2048}
    batch: {global_sequences: 4096}   # 16.8M tokens for a ~5e20-FLOP run
```

**Best practice**

```yaml
sizes:
  1b:
    model: {width: 2048}
    batch: {global_sequences: 256}    # 1M tokens, near B_opt
```
"""

from recipec.lint.base import Finding, fmt

CODE = "RC404"
NAME = "critical-batch"
SEVERITY = "warning"
SUMMARY = "A size's batch is far beyond an estimate of the critical batch size."
RATIONALE = ("Batch-size LR rules hold only below the critical batch; above it the batch is wasted and the "
             "scaled LR over-shoots.")
CITATION = ("McCandlish et al. 2018, arXiv:1812.06162; DeepSeek-AI 2024, arXiv:2401.02954 "
            "(B_opt = 0.2920·C^0.3271)")
OPTIONS = {"factor": 4.0}


def check(ctx, options):
    for name, res in ctx.targets():
        rec = res.derived.recommended_batch_tokens
        estimate = rec.value if rec is not None else 0.2920 * res.derived.training_flops ** 0.3271
        batch = res.batch.global_tokens
        if batch > options["factor"] * estimate:
            path = ctx.size_path(name, "batch", "global_tokens")
            if path[-1] != "global_tokens":
                path = ctx.size_path(name, "batch", "global_sequences")
            yield Finding(path, f"size '{name}' trains on {batch:,} tokens per batch, {batch / estimate:.1f}× "
                                f"the estimated optimal batch {fmt(estimate)} "
                                f"(C = {fmt(res.derived.training_flops)} FLOPs)",
                          hint="lower the batch toward the estimate, or verify the LR at this batch")
