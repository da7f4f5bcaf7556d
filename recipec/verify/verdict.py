"""The verdict: do top singular values stay flat across the width ladder? Pure Python, no torch.

Per measured kind (q, k, v, o, mlp_in, mlp_out — the matrix-like classes the diagnostic is about; the
embedding and output matrices are reported but not judged): the ratio of each rung's σ to the reference
rung's, and the least-squares slope of log σ against log width. A kind passes when |slope| ≤ tolerance
and every ratio lies within [low, high]. The overall verdict is

* ``fail``         — a rung diverged (NaN/inf or a loss blow-up), or a judged kind is out of tolerance
                     while every rung is at steady state, or a rung's ratio is outside the band and its
                     trend over the last 40% of the run points further out (it will not come back);
* ``inconclusive`` — the run is too short for its AdamW timescale (``run.too_short``: never a pass or a
                     fail, whatever σ does), or no judged kind failed but some had not plateaued at the
                     end of some rung (not at steady state);
* ``pass``         — every judged kind is within tolerance at steady state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

JUDGED_KINDS = ("q", "k", "v", "o", "mlp_in", "mlp_out")
REPORTED_KINDS = ("embedding", "output")


@dataclass(frozen=True)
class Tolerance:
    slope: float = 0.1
    ratio_low: float = 0.8
    ratio_high: float = 1.25
    plateau: float = 0.1  # relative drift of σ over the last 40% of a run (linear fit) that still counts as flat


@dataclass
class KindVerdict:
    kind: str
    judged: bool
    sigma: list[float]
    ratio: list[float]
    slope: float
    plateaued: list[bool]
    verdict: str  # pass | fail | inconclusive | info
    reasons: list[str] = field(default_factory=list)
    provisional: str = ""  # for an inconclusive kind: what the tolerances say of the σ measured so far


def loglog_slope(widths: list[float], values: list[float]) -> float:
    xs = [math.log(w) for w in widths]
    ys = [math.log(v) for v in values]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx


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
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return slope * (xs[-1] - xs[0]), my


def plateaued(curve: list[tuple[int, float]], tol: float) -> bool:
    """Has σ stopped drifting? A least-squares line through the checkpoints of the last 40% of the run
    (at least three) must change by at most ``tol`` of σ's mean over that window — a fit, so that the
    checkpoint-to-checkpoint noise of a short run does not decide it."""
    trend = _late_trend(curve)
    if trend is None or trend[1] == 0:
        return False
    change, mean = trend
    return abs(change) <= tol * abs(mean)


def ratio_not_returning(curve: list[tuple[int, float]], reference: list[tuple[int, float]], tol: Tolerance) -> bool:
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
               tol: Tolerance, not_returning: list[bool] | None = None, too_short: str | None = None) -> KindVerdict:
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
    return KindVerdict(kind, judged, sigma, ratio, slope, flat, verdict, reasons,
                       provisional if verdict == "inconclusive" else "")


def overall(kinds: list[KindVerdict], divergences: list[str], too_short: str | None = None) -> tuple[str, list[str]]:
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
             "tolerance; a longer run (--steps) is needed for a verdict"]
    return "pass", []
