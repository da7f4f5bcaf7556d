"""Warmup or decay given in absolute steps while the run length changes between sizes.

A warmup of 2,000 steps is 20% of a 10k-step proxy and 1% of a 200k-step target: the schedule the
proxy was tuned with is not the one the target runs. Give warmup as ``fraction`` (or ``tokens``) and
WSD decay as ``decay_fraction``.

**Anti-pattern**

```yaml
schedule:
  warmup: {steps: 2000}
  decay: wsd
  decay_steps: 1000
```

**Best practice**

```yaml
schedule:
  warmup: {fraction: 0.01}
  decay: wsd
  decay_fraction: 0.2
```
"""

from recipec.lint.base import Finding

CODE = "RC501"
NAME = "absolute-schedule-steps"
SEVERITY = "warning"
SUMMARY = "Warmup or decay in absolute steps while the run length changes."
RATIONALE = "Schedules transfer as fractions of the run; a fixed step count changes the schedule's shape."
CITATION = ("Wortsman et al. 2023, arXiv:2309.14322 (warmup length and LR sensitivity); Bergsma et al. 2025, "
            "Straight to Zero, arXiv:2502.15938 (decay stated as a fraction of the run)")
OPTIONS: dict = {}


def check(ctx, options):
    s = ctx.recipe.schedule
    proxy_steps = ctx.proxy.schedule.total_steps
    changed = [(name, res) for name, res in ctx.targets() if res.schedule.total_steps != proxy_steps]
    if not changed:
        return
    name, res = max(changed, key=lambda t: abs(t[1].schedule.total_steps - proxy_steps))
    total = res.schedule.total_steps
    if s.warmup.steps is not None:
        yield Finding(("schedule", "warmup", "steps"),
                      f"warmup of {s.warmup.steps:,} steps is {s.warmup.steps / proxy_steps:.2%} of the proxy's run "
                      f"but {s.warmup.steps / total:.2%} of size '{name}' ({total:,} steps)",
                      hint="give warmup as a fraction of the run (warmup: {fraction: …})")
    if s.decay_steps is not None:
        yield Finding(("schedule", "decay_steps"),
                      f"decay of {s.decay_steps:,} steps is {s.decay_steps / proxy_steps:.2%} of the proxy's run but "
                      f"{s.decay_steps / total:.2%} of size '{name}' ({total:,} steps)",
                      hint="use decay_fraction")
