"""The verdict: do top singular values stay flat across the width ladder? Pure Python, no torch.

Per measured kind (q, k, v, o, mlp_in, mlp_out, and a mixture of experts' expert_in, expert_out,
shared_in, shared_out — the matrix-like classes the diagnostic is about; the embedding, output and
router matrices are reported but not judged; a kind's σ is the mean over its matrices: layers, and for
the experts every expert's own matrix, see ``recipec.verify.probe``): the ratio of each rung's σ to the reference
rung's, and the least-squares slope of log σ against log width. A kind passes when |slope| ≤ tolerance
and every ratio lies within [low, high]. The overall verdict is

* ``fail``         — a rung diverged (NaN/inf or a loss blow-up), or a judged kind is out of tolerance
                     while every rung is at steady state, or a rung's ratio is outside the band and its
                     trend over the last 40% of the run points further out (it will not come back);
* ``inconclusive`` — the run is too short for its AdamW timescale (:func:`too_short`: never a pass or a
                     fail, whatever σ does), or no judged kind failed but some had not plateaued at the
                     end of some rung (not at steady state);
* ``pass``         — every judged kind is within tolerance at steady state.
"""

from __future__ import annotations

import math

from recipec.verify.report import KindReport, Tolerances

JUDGED_KINDS = ("q", "k", "v", "o", "mlp_in", "mlp_out", "expert_in", "expert_out", "shared_in", "shared_out")
REPORTED_KINDS = ("embedding", "output", "router")  # readout-like (class output) and the embedding: information
MIN_TAU_STEPS = 20  # below this compressed AdamW timescale the weights are a memory of a few updates: no steady state
MIN_TIMESCALES = 3.0  # the slowest rung must see this many timescales for σ to have settled


def line_slope(xs: list[float], ys: list[float]) -> float | None:
    """The slope of the least-squares line through (xs, ys) (``numpy.polyfit``); None when every x is the same."""
    import numpy as np

    if len(set(xs)) < 2:
        return None
    return float(np.polyfit(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float), 1)[0])


def loglog_slope(widths: list[float], values: list[float]) -> float:
    """The slope of log value against log width (0 for a single width)."""
    slope = line_slope([math.log(w) for w in widths], [math.log(v) for v in values])
    return 0.0 if slope is None else slope


def _late_trend(curve: list[tuple[int, float]]) -> tuple[float, float] | None:
    """(change, mean) of a least-squares line through the checkpoints of the last 40% of the run (at least
    three): how far the line moves across that window, and the mean value over it."""
    if len(curve) < 3:
        return None
    end = curve[-1][0]
    window = [c for c in curve if c[0] >= 0.6 * end]
    if len(window) < 3:
        window = curve[-3:]
    xs, ys = [c[0] for c in window], [c[1] for c in window]
    slope = line_slope(xs, ys)
    if slope is None:
        return None
    return slope * (xs[-1] - xs[0]), sum(ys) / len(ys)


def plateaued(curve: list[tuple[int, float]], tol: float) -> bool:
    """Has σ stopped drifting? A least-squares line through the checkpoints of the last 40% of the run
    (at least three) must change by at most ``tol`` of σ's mean over that window — a fit, so that the
    checkpoint-to-checkpoint noise of a short run does not decide it."""
    trend = _late_trend(curve)
    if trend is None or trend[1] == 0:
        return False
    change, mean = trend
    return abs(change) <= tol * abs(mean)


def ratio_not_returning(curve: list[tuple[int, float]], reference: list[tuple[int, float]], tol: Tolerances) -> bool:
    """Is this rung's σ ratio to the reference rung outside [low, high] at the end of the run and its trend
    over the last 40% not pointing back into the band? Such a ratio will not come back by steady state,
    so a kind can fail without waiting for it. Both curves must share their checkpoints."""
    ref = dict(reference)
    ratio = [(step, value / ref[step]) for step, value in curve if ref.get(step)]
    trend = _late_trend(ratio)
    if trend is None:
        return False
    change, mean = trend
    return (mean > tol.ratio_high and change >= 0) or (mean < tol.ratio_low and change <= 0)


def judge_kind(kind: str, widths: list[int], sigma: list[float], flat: list[bool], ref_index: int,
               tol: Tolerances, not_returning: list[bool] | None = None, too_short: str | None = None) -> KindReport:
    """``not_returning[i]``: rung i's ratio is out of the band and not coming back (``ratio_not_returning``);
    such a rung fails the kind even before steady state. ``too_short``: why the run is too short for its
    timescale — then a judged kind is inconclusive whatever its σ (the provisional verdict says which way
    it leans)."""
    judged = kind in JUDGED_KINDS
    ratio = [s / sigma[ref_index] for s in sigma]
    slope = loglog_slope(widths, sigma)
    reasons = []
    if abs(slope) > tol.slope:
        reasons.append(f"slope {slope:+.3f} beyond ±{tol.slope:g}")
    for w, r in zip(widths, ratio):
        if not tol.ratio_low <= r <= tol.ratio_high:
            reasons.append(f"ratio {r:.3f} at width {w} outside [{tol.ratio_low:g}, {tol.ratio_high:g}]")
    not_flat = [w for w, f in zip(widths, flat) if not f]
    provisional = "fail" if reasons else "pass"
    gone = [w for w, r, away in zip(widths, ratio, not_returning or [False] * len(widths))
            if away and not tol.ratio_low <= r <= tol.ratio_high]
    if not judged:
        verdict = "info"
    elif too_short:
        verdict = "inconclusive"
        reasons.append("run too short for its timescale")
    elif not_flat and gone:  # out of the band and not coming back: steady state would not rescue it
        verdict = "fail"
        reasons.append("not at steady state at width " + ", ".join(map(str, not_flat)) + ", but the ratio at width "
                       + ", ".join(map(str, gone)) + " is still moving away from the band")
    elif not_flat:
        verdict = "inconclusive"
        reasons.append("not at steady state at width " + ", ".join(map(str, not_flat)))
    else:
        verdict = provisional
    return KindReport(kind=kind, judged=judged, sigma=sigma, ratio=ratio, slope=slope, plateaued=flat,
                      verdict=verdict, reasons=reasons, provisional=provisional if verdict == "inconclusive" else "")


def overall(kinds: list[KindReport], divergences: list[str], too_short: str | None = None) -> tuple[str, list[str]]:
    from recipec.verify.options import flag

    if divergences:
        return "fail", list(divergences)
    if too_short:  # never pass or fail: say which way the σ so far leans
        judged = [k for k in kinds if k.judged]
        leaning = "fail" if any(k.provisional == "fail" for k in judged) else "pass"
        return "inconclusive", [too_short, f"provisionally {leaning}: the σ measured so far is "
                                f"{'out of' if leaning == 'fail' else 'within'} tolerance"]
    judged = [k for k in kinds if k.judged]
    failed = [k for k in judged if k.verdict == "fail"]
    pending = [k for k in judged if k.verdict == "inconclusive"]
    if failed:  # a kind that has failed fails the recipe, whatever the kinds still short of steady state do
        return "fail", [f"{k.kind}: {'; '.join(k.reasons)}" for k in failed] + \
            [f"{k.kind} (not judged yet): {'; '.join(k.reasons)}" for k in pending]
    if pending:
        leaning = "fail" if any(k.provisional == "fail" for k in pending) else "pass"
        return "inconclusive", [f"{k.kind}: {'; '.join(k.reasons)}" for k in pending] + \
            [f"provisionally {leaning}: the σ measured so far is {'out of' if leaning == 'fail' else 'within'} "
             f"tolerance; a longer run ({flag('steps')}) is needed for a verdict"]
    return "pass", []


def too_short(reports, reached: float | None, steps: int) -> str | None:
    """Why this run is too short for its AdamW timescale to judge σ at steady state, or None.

    Steady state σ ∝ √(η/λ) is the balance of updates and decay averaged over τ = 1/(η·λ) steps; it needs
    several τ, and a τ of many steps (with τ of a few steps, after strong time compression, the weights
    are a memory of the last few normalised updates and of the warmup, not a steady state)."""
    from recipec.verify.ladder import TIMESCALES
    from recipec.verify.options import flag

    taus = [r.tau_steps for r in reports if r.tau_steps is not None]
    if not taus:
        return None
    tau = max(taus)
    if tau < MIN_TAU_STEPS:
        return (f"run too short for its timescale: after the weight-decay compression the slowest rung's AdamW "
                f"timescale τ = 1/(η·λ) is {tau:.1f} steps, under the {MIN_TAU_STEPS} a steady state needs; "
                f"run at least {math.ceil(TIMESCALES * MIN_TAU_STEPS)} steps ({flag('steps')}) with "
                f"{flag('compression')} auto")
    if reached is not None and reached < MIN_TIMESCALES:
        return (f"run too short for its timescale: the slowest rung sees {reached:.2f} AdamW timescales of the "
                f"{MIN_TIMESCALES:g} σ needs to settle (τ = {tau:.0f} steps, {steps} steps); raise "
                f"{flag('steps')} or {flag('compression')}")
    return None
