"""The coord check's verdict: do activations and updates keep their size across widths? No torch.

For each measured kind, quantity and step the RMS values of every (width, seed) are fitted as
log RMS = a + s·log width (``scipy.stats.linregress``); the slope s gets a 95% confidence interval
from its standard error and Student's t with n − 2 degrees of freedom. What muP promises (Tensor
Programs V; microsoft/mup's coord check), and so what is judged:

* ``activation`` — the RMS of a layer's output, W·x: flat in width (|s| ≤ tolerance) for the embedding
  and the hidden kinds (experts included) at every step including step 0 (init); for the readout's
  logits, the router's logits and the attention logits only *growth* is a failure (s ≤ tolerance): muP
  lets their init part vanish (∝ width^-1/2 with a 1/m readout multiplier or a 1/fan_in init, and a
  1/head_dim attention scale);
* ``update`` — the RMS of the update's contribution ΔW·x = (W_t − W_0)·x at steps ≥ 2: flat in width
  for every matrix kind (the readout's through the logits, so its multiplier counts).

For ``attn_logits`` the scale each ``scaled_dot_product_attention`` call applies is also compared with
the recipe's resolved ``attn_logit_scale`` at every width: a model that passes another scale (the
standard 1/√head_dim kept under muP) fails at once, before its logits have had time to grow.

A kind **fails** when some judged slope's whole confidence interval lies outside the allowed band (the
deviation is real, not noise), or its attention scale is not the resolved one; it is **inconclusive**
when a slope is outside the band but its interval reaches into it, or an interval is wider than
``max_ci`` (more seeds or widths needed); otherwise it **passes**. The overall verdict is the worst
kind's; of the failing kinds, those that fail first (at the earliest step) are named as where to look —
a broken readout also disturbs o and mlp_out a few steps later, through the backward pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# measured kinds, in report order; "attn_logits" is the q·k·scale of every scaled_dot_product_attention call
# (a mixture of experts: each expert's and the shared experts' matrices, their RMS averaged over the experts
# and layers that saw tokens this step, and the router's logits, its multiplier included)
COORD_KINDS = ("q", "k", "v", "o", "mlp_in", "mlp_out", "expert_in", "expert_out", "shared_in", "shared_out",
               "router", "embedding", "output", "attn_logits")
# ΔW·x is judged from the second update on: step 0 has none, and the first is Adam's sign-like step whose
# alignment with a fresh batch is still building at small widths (slope -0.26 at step 1 on the correct
# example model at widths 32-256, -0.13 at step 2, under -0.1 from step 3)
FIRST_JUDGED_UPDATE = 2
# may vanish at init under muP; growth fails. The router is readout-like (a finite fan-out; class output):
# under muP its init std ∝ 1/fan_in (rules/mup-moe.yaml) makes its logits at init shrink as width^-1/2.
ONE_SIDED_ACTIVATION = frozenset({"output", "router", "attn_logits"})


@dataclass(frozen=True)
class CoordTolerance:
    slope: float = 0.25  # |slope of log RMS against log width| allowed (muP bugs give ±0.5 or ±1)
    max_ci: float = 0.6  # a confidence interval wider than this (half-width) decides nothing
    confidence: float = 0.95


@dataclass
class SlopeFit:
    step: int
    slope: float
    ci_low: float
    ci_high: float
    rms: list[float]  # mean RMS over seeds, one per width


@dataclass
class KindCoord:
    kind: str
    verdict: str  # pass | fail | inconclusive
    reasons: list[str] = field(default_factory=list)
    series: dict[str, list[SlopeFit]] = field(default_factory=dict)  # quantity -> one fit per step
    first_fail_step: int | None = None  # the earliest step at which a judged slope failed (0: the init, or its scale)


def fit_slope(widths: list[int], values: list[list[float]], step: int, confidence: float) -> SlopeFit:
    """``values[i]``: the RMS at ``widths[i]`` for each seed. Slope of log RMS against log width with a
    confidence interval (Student's t on the regression's standard error)."""
    from scipy import stats

    xs = [math.log(w) for w, vs in zip(widths, values) for _ in vs]
    ys = [math.log(max(v, 1e-30)) for vs in values for v in vs]
    means = [sum(vs) / len(vs) for vs in values]
    if len(set(xs)) < 2:
        return SlopeFit(step, 0.0, -math.inf, math.inf, means)
    fit = stats.linregress(xs, ys)
    dof = len(xs) - 2
    if dof <= 0:
        return SlopeFit(step, float(fit.slope), -math.inf, math.inf, means)
    stderr = float(fit.stderr)
    if not math.isfinite(stderr):  # linregress gives nan when y is constant (r undefined): residuals are 0
        mx = sum(xs) / len(xs)
        sse = sum((y - fit.intercept - fit.slope * x) ** 2 for x, y in zip(xs, ys))
        stderr = math.sqrt(sse / dof / sum((x - mx) ** 2 for x in xs))
    half = float(stats.t.ppf(0.5 + confidence / 2, dof)) * stderr
    return SlopeFit(step, float(fit.slope), float(fit.slope) - half, float(fit.slope) + half, means)


def _band(kind: str, quantity: str, tol: float) -> tuple[float, float]:
    if quantity == "activation" and kind in ONE_SIDED_ACTIVATION:
        return -math.inf, tol
    return -tol, tol


def scale_mismatch(widths: list[int], used: list[float], resolved: list[float], rel: float = 0.02) -> str | None:
    """The attention scale a model passes to scaled_dot_product_attention against the recipe's resolved
    ``attn_logit_scale``, per width: a reason when they differ by more than ``rel`` at some width."""
    off = [(w, u, r) for w, u, r in zip(widths, used, resolved) if abs(u - r) > rel * abs(r)]
    if not off:
        return None
    w, u, r = off[-1]
    return (f"scaled_dot_product_attention gets scale {u:.4g} at width {w}, the recipe resolves "
            f"attn_logit_scale {r:.4g} (at {len(off)} of {len(widths)} widths)")


def judge(kind: str, series: dict[str, list[SlopeFit]], tol: CoordTolerance,
          scale: tuple[list[float], list[float]] | None = None, widths: list[int] | None = None) -> KindCoord:
    """``scale``: for ``attn_logits``, (the scale SDPA applied, the resolved attn_logit_scale) per width."""
    failed, unsure, notes = [], [], []
    first = None
    if scale is not None:
        reason = scale_mismatch(widths or list(range(len(scale[0]))), *scale)
        if reason is not None:
            notes.append(reason)
            first = 0
    for quantity, fits in series.items():
        low, high = _band(kind, quantity, tol.slope)
        for f in fits:
            if quantity == "update" and f.step < FIRST_JUDGED_UPDATE:
                continue
            where = f"{quantity} slope {f.slope:+.2f} [{f.ci_low:+.2f}, {f.ci_high:+.2f}] at step {f.step}"
            if f.ci_low > high or f.ci_high < low:
                failed.append((abs(f.slope), where))
                first = f.step if first is None else min(first, f.step)
            elif not low <= f.slope <= high:
                unsure.append((abs(f.slope), where + " (outside the band, interval reaching into it)"))
            elif (f.ci_high - f.ci_low) / 2 > tol.max_ci:
                unsure.append((0.0, where + f" (interval wider than ±{tol.max_ci:g})"))
    band = f"±{tol.slope:g}" if kind not in ONE_SIDED_ACTIVATION else f"±{tol.slope:g} (activation: ≤ {tol.slope:+g})"
    if failed or notes:
        failed.sort(reverse=True)
        more = f" (and {len(failed) - 1} more step(s))" if len(failed) > 1 else ""
        slopes = [f"{failed[0][1]} beyond {band}{more}"] if failed else []
        return KindCoord(kind, "fail", notes + slopes, series, first)
    if unsure:
        unsure.sort(reverse=True)
        from recipec.verify.options import flag

        more = f"; more {flag('coord_seeds')} or widths would decide it"
        return KindCoord(kind, "inconclusive", [unsure[0][1] + more], series)
    return KindCoord(kind, "pass", [], series)


def first_failing(kinds: list[KindCoord]) -> list[str]:
    """The kinds that fail first (at the earliest step): where the bug most likely is. A broken kind
    disturbs the others through the forward and backward passes, so they can fail later too."""
    steps = [k.first_fail_step for k in kinds if k.verdict == "fail" and k.first_fail_step is not None]
    return [k.kind for k in kinds if k.verdict == "fail" and k.first_fail_step == min(steps)] if steps else []


def overall(kinds: list[KindCoord]) -> tuple[str, list[str]]:
    failed = [k for k in kinds if k.verdict == "fail"]
    unsure = [k for k in kinds if k.verdict == "inconclusive"]
    if failed:
        first = first_failing(kinds)
        step = min(k.first_fail_step for k in failed if k.first_fail_step is not None)
        lead = [f"fails first (step {step}): {', '.join(first)} — where to look"]
        later = [k for k in failed if k.kind not in first]
        return "fail", lead + [f"{k.kind}: {'; '.join(k.reasons)}" for k in failed if k.kind in first] + [
            f"{k.kind} (from step {k.first_fail_step}, possibly downstream): {'; '.join(k.reasons)}" for k in later]
    if unsure:
        return "inconclusive", [f"{k.kind}: {'; '.join(k.reasons)}" for k in unsure]
    return "pass", []
