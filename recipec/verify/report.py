"""The verify report: a pydantic model (its JSON Schema is committed as schemas/verify-report.schema.json),
a terminal table, a Markdown summary and an optional PNG plot. No torch here.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClassHyper(_M):
    lr: float
    weight_decay: float  # coupled (torch AdamW), after time compression
    weight_decay_resolved: float  # coupled, as the recipe resolves it at this width
    eps: float
    init_std: float | None


class RungReport(_M):
    width: int
    heads: int
    head_dim: int
    ffn_hidden: int
    params: int
    hyper: dict[str, ClassHyper]
    multipliers: dict[str, float]
    tau_steps: float | None  # AdamW timescale 1/(η·λ) of the hidden class, after compression
    tau_steps_resolved: float | None
    steps: int
    final_loss: float | None
    loss_curve: list[tuple[int, float]]
    sigma_curve: dict[str, list[tuple[int, float]]]  # kind -> (step, σ averaged over layers)
    # the verdict uses each kind's σ averaged over the checkpoints of the last fifth of the run
    sigma_per_layer: dict[str, list[float]]  # kind -> final σ of each layer
    estimator_iterations: int
    estimator_unconverged: int
    diverged: str | None
    seconds: float
    tokens_per_second: float
    mfu: float | None
    memory_estimate_bytes: float | None = None  # the planner's estimate (weights, grads, AdamW, activations)
    time_estimate_seconds: float | None = None  # the planner's estimate at an assumed throughput
    memory_peak_bytes: float | None = None  # measured on a GPU (torch.cuda.max_memory_allocated); None on a CPU
    sigma_seconds: float | None = None  # of ``seconds``, the time spent estimating σ at the checkpoints
    time_reestimate_seconds: float | None = None  # re-estimated from the rung's first timed steps


class KindReport(_M):
    kind: str
    judged: bool
    sigma: list[float]
    ratio: list[float]
    slope: float
    plateaued: list[bool]
    verdict: Literal["pass", "fail", "inconclusive", "info"]
    reasons: list[str]
    provisional: Literal["", "pass", "fail"] = ""  # inconclusive kinds: what the σ so far says


class Compression(_M):
    factor: float
    chosen: Literal["auto", "user", "none"]
    timescales_reached: float | None  # steps / τ of the slowest rung after compression
    assumption: str


class Tolerances(_M):
    slope: float
    ratio_low: float
    ratio_high: float
    plateau: float


class CoordFit(_M):
    step: int  # the forward before update number ``step`` (0: at init)
    slope: float  # of log RMS against log width, over every (width, seed)
    ci_low: float | None  # 95% confidence interval (None: too few points)
    ci_high: float | None
    rms: list[float]  # mean RMS over seeds, one per width


class CoordKindReport(_M):
    kind: str  # a parameter kind, or attn_logits
    verdict: Literal["pass", "fail", "inconclusive"]
    reasons: list[str]
    series: dict[str, list[CoordFit]]  # "activation" (W·x) and "update" (ΔW·x) -> one fit per step
    first_fail_step: int | None = None  # the earliest step a judged slope failed at (0: init or attention scale)


class CoordReport(_M):
    """``--coord-check``: RMS of activations and of ΔW·x per kind across widths in the first steps."""
    model: str
    widths: list[int]
    head_dims: list[int]
    depth: int
    steps: int
    seeds: int
    batch: int
    seq_len: int
    slope_tolerance: float
    max_ci: float
    confidence: float
    seconds: float
    kinds: list[CoordKindReport]
    verdict: Literal["pass", "fail", "inconclusive"]
    reasons: list[str]
    first_failing: list[str] = []  # the kinds that fail at the earliest step: where the bug most likely is


class VerifyReport(_M):
    recipec_version: str
    recipe_name: str
    recipe_file: str
    recipe_sha256: str
    size: str
    rulesets: list[str]
    device: str
    dtype: str
    data: str
    data_sha256: str
    widths: list[int]
    reference_width: int
    depth: int
    seq_len: int
    batch: int  # global: sequences per optimizer step over all processes
    micro_batches: int = 1  # equal slices of the batch whose gradients are summed
    processes: int = 1  # data-parallel ranks under torchrun (FSDP2); 1: one process
    steps: int
    warmup_steps: int
    seed: int
    schedule: str
    compression: Compression
    tolerance: Tolerances
    rungs: list[RungReport]
    kinds: list[KindReport]
    verdict: Literal["pass", "fail", "inconclusive"]
    reasons: list[str]
    model: str = "reference"  # the reference decoder, or the --model factory
    coord: CoordReport | None = None  # the coord check run before the ladder (--coord-check also)


def write_public(path, text: str | bytes) -> None:
    """Write atomically, then give the file the permissions of any other output (0666 less the umask:
    0644 under the usual 022), not the 0600 of the temporary file it was renamed from."""
    import os

    from recipec.io import write_atomic

    write_atomic(path, text)
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


VERDICT_TEXT = {
    "pass": "PASS — top singular values stay flat across widths",
    "fail": "FAIL — top singular values drift with width",
    "inconclusive": "INCONCLUSIVE — not at steady state",
}


def table(report: VerifyReport) -> str:
    widths = report.widths
    head = f"{'kind':<10}" + "".join(f"{'σ@' + str(w):>11}" for w in widths) + "".join(
        f"{'×@' + str(w):>9}" for w in widths) + f"{'slope':>8}  verdict"
    lines = [head]
    for k in report.kinds:
        row = f"{k.kind:<10}" + "".join(f"{s:>11.4g}" for s in k.sigma) + "".join(f"{r:>9.3f}" for r in k.ratio)
        row += f"{k.slope:>+8.3f}  {k.verdict}" + (f" (leans {k.provisional})" if k.provisional else "")
        lines.append(row)
    return "\n".join(lines)


def terminal(report: VerifyReport) -> str:
    c = report.compression
    out = [
        f"verify {report.recipe_name} → {report.size}: widths {', '.join(map(str, report.widths))} at depth "
        f"{report.depth}, {report.steps} steps × {report.batch} × {report.seq_len} tokens on {report.device} "
        f"({report.dtype})",
        f"model: {report.model}; rule sets: {', '.join(report.rulesets)}; data: {report.data}",
        f"weight-decay time compression ×{c.factor:.4g} ({c.chosen}); slowest rung reaches "
        f"{c.timescales_reached:.2f} AdamW timescales" if c.timescales_reached is not None else
        f"weight-decay time compression ×{c.factor:.4g} ({c.chosen}); no weight decay on hidden matrices",
        "",
        table(report),
        "",
        f"verdict: {VERDICT_TEXT[report.verdict]}",
    ]
    out += [f"  - {r}" for r in report.reasons]
    for rung in report.rungs:
        if rung.diverged:
            out.append(f"  - width {rung.width}: {rung.diverged}")
    if report.coord is not None:
        out += ["", coord_terminal(report.coord).rstrip("\n")]
    return "\n".join(out) + "\n"


COORD_VERDICT_TEXT = {
    "pass": "PASS — activations and updates keep their size across widths",
    "fail": "FAIL — a kind's activations or updates scale with width",
    "inconclusive": "INCONCLUSIVE — a slope outside tolerance within its confidence interval",
}


def _worst(k: CoordKindReport, quantity: str) -> str:
    fits = [f for f in k.series.get(quantity, []) if not (quantity == "update" and f.step < 2)]
    if not fits:
        return "-"
    f = max(fits, key=lambda f: abs(f.slope))
    return f"{f.slope:+.2f} @{f.step}"


def coord_table(c: CoordReport) -> list[list[str]]:
    rows = []
    for k in c.kinds:
        act = k.series.get("activation", [])
        rows.append([k.kind, f"{act[0].slope:+.2f}" if act else "-", _worst(k, "activation"), _worst(k, "update"),
                     k.verdict])
    return rows


def coord_terminal(c: CoordReport) -> str:
    head = ["kind", "act@0", "act worst", "ΔW·x worst", "verdict"]
    rows = coord_table(c)
    widths = [max(len(r[i]) for r in rows + [head]) + 2 for i in range(len(head))]
    lines = [f"coord check ({c.model}): widths {', '.join(map(str, c.widths))}, {c.steps} steps, {c.seeds} seeds, "
             f"{c.batch} × {c.seq_len} tokens, {c.seconds:.1f} s; slope of log RMS vs log width, tolerance "
             f"±{c.slope_tolerance:g}",
             "".join(h.ljust(w) for h, w in zip(head, widths))]
    lines += ["".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
    lines.append(f"coord verdict: {COORD_VERDICT_TEXT[c.verdict]}")
    lines += [f"  - {r}" for r in c.reasons]
    return "\n".join(lines) + "\n"


def coord_markdown(c: CoordReport, heading: str = "##") -> str:
    lines = [f"{heading} Coord check: {COORD_VERDICT_TEXT[c.verdict]}", ""]
    lines += [f"- {r}" for r in c.reasons]
    lines += [
        "",
        f"Model {c.model}; widths {', '.join(map(str, c.widths))} (head_dim {', '.join(map(str, c.head_dims))}) at "
        f"depth {c.depth}; {c.steps} steps of {c.batch} × {c.seq_len} tokens at the resolved LRs (constant), "
        f"{c.seeds} seeds; {c.seconds:.1f} s.",
        "",
        f"Per kind and step, the slope of log RMS against log width over every (width, seed) with a "
        f"{c.confidence:.0%} confidence interval; muP keeps activations (W·x, at every step) and the update's "
        f"contribution (ΔW·x, from step 2) flat: |slope| ≤ {c.slope_tolerance:g} (readout and attention logits: "
        "activation slope ≤ tolerance, they may vanish at init). A kind fails when a whole interval lies outside "
        "the band or its attention scale is not the resolved one.",
        "",
        "| kind | activation slope at init | worst activation slope (step) | worst ΔW·x slope (step) | verdict |",
        "|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in coord_table(c)]
    return "\n".join(lines) + "\n"


def markdown(report: VerifyReport) -> str:
    c, t = report.compression, report.tolerance
    lines = [
        f"# recipec verify: {report.recipe_name} → {report.size}",
        "",
        f"**Verdict: {VERDICT_TEXT[report.verdict]}**",
        "",
    ]
    lines += [f"- {r}" for r in report.reasons]
    lines += [
        "",
        f"Recipe `{report.recipe_file}` (sha256 `{report.recipe_sha256[:12]}`), rule sets "
        f"{', '.join(f'`{r}`' for r in report.rulesets)}. Widths {', '.join(map(str, report.widths))} "
        f"(reference {report.reference_width}) at depth {report.depth}; {report.steps} steps of "
        f"{report.batch} × {report.seq_len} tokens"
        f"{f' in {report.micro_batches} micro batches' if report.micro_batches > 1 else ''}; {report.schedule}; "
        f"model {report.model}; "
        f"seed {report.seed}; {report.device}, "
        f"{report.dtype}. Data: {report.data} (sha256 `{report.data_sha256[:12]}`).",
        "",
        f"Tolerance: |slope| ≤ {t.slope:g}, every ratio within [{t.ratio_low:g}, {t.ratio_high:g}]; σ counts as "
        f"plateaued when a line fitted through the last 40% of its checkpoints moves by at most {t.plateau:.0%}; "
        "a kind fails before steady state when a ratio is outside the band and its trend over that window "
        "points further out.",
        "",
        f"Weight-decay time compression: every rung's λ × {c.factor:.4g} ({c.chosen}). {c.assumption}",
        "",
        "| kind | " + " | ".join(f"σ @ {w}" for w in report.widths) + " | " +
        " | ".join(f"ratio @ {w}" for w in report.widths) + " | slope | verdict |",
        "|---|" + "---|" * (2 * len(report.widths) + 2),
    ]
    for k in report.kinds:
        lines.append(f"| {k.kind} | " + " | ".join(f"{s:.4g}" for s in k.sigma) + " | " +
                     " | ".join(f"{r:.3f}" for r in k.ratio) + f" | {k.slope:+.3f} | {k.verdict}"
                     + (f" (leans {k.provisional})" if k.provisional else "") + " |")
    lines += ["", "| width | params | hidden LR | hidden WD (run) | τ steps (run) | final loss | tokens/s | MFU | "
              "memory GiB (planned / peak) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in report.rungs:
        h = r.hyper["hidden"]
        tau = f"{r.tau_steps:.0f}" if r.tau_steps is not None else "-"
        loss = f"{r.final_loss:.4f}" if r.final_loss is not None else "-"
        mfu = f"{r.mfu:.1%}" if r.mfu is not None else "-"
        planned = f"{r.memory_estimate_bytes / 2**30:.2f}" if r.memory_estimate_bytes is not None else "-"
        peak = f"{r.memory_peak_bytes / 2**30:.2f}" if r.memory_peak_bytes is not None else "-"
        lines.append(f"| {r.width} | {r.params:,} | {h.lr:.4g} | {h.weight_decay:.4g} | {tau} | {loss} | "
                     f"{r.tokens_per_second:,.0f} | {mfu} | {planned} / {peak} |")
    lines.append("")
    lines.append("Embedding and output matrices are reported for information; the verdict judges the "
                 "matrix-like kinds (q, k, v, o, MLP in/out), which the width rule is about.")
    if report.coord is not None:
        lines += ["", coord_markdown(report.coord).rstrip("\n")]
    return "\n".join(lines) + "\n"


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _legend_right(ax, **kw) -> None:
    """A legend outside the axes, to their right: it never covers the data."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=7,
                  frameon=False, **kw)


def _sigma_panels(report: VerifyReport, axes) -> None:
    ax1, ax2 = axes[0]
    for k in report.kinds:
        ax1.plot(report.widths, k.sigma, marker="o", linestyle="-" if k.judged else ":",
                 label=f"{k.kind} ({k.slope:+.2f})")
    ax1.set_xscale("log", base=2)
    ax1.set_yscale("log")
    ax1.set_xlabel("width")
    ax1.set_ylabel("top σ (mean over layers, late steps)")
    ax1.set_title(f"σ vs width — {report.verdict}", fontsize=9)
    if report.kinds:
        _legend_right(ax1, title="kind (slope)")
    else:
        ax1.text(0.5, 0.5, "no σ table: a rung diverged", ha="center", transform=ax1.transAxes)
    for r in report.rungs:
        if r.loss_curve:
            steps, losses = zip(*r.loss_curve)
            ax2.plot(steps, losses, label=f"width {r.width}")
    ax2.set_xlabel("step")
    ax2.set_ylabel("training loss")
    _legend_right(ax2)
    kinds = [k.kind for k in report.kinds] or sorted({k for r in report.rungs for k in r.sigma_curve})
    flat_axes = [ax for row in axes[1:] for ax in row]
    for ax, kind in zip(flat_axes, kinds):
        for r in report.rungs:
            if kind in r.sigma_curve:
                steps, values = zip(*r.sigma_curve[kind])
                ax.plot(steps, values, label=f"width {r.width}")
        verdict = next((k.verdict for k in report.kinds if k.kind == kind), "")
        ax.set_title(f"σ of {kind} against step — {verdict}", fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylabel("top σ")
        ax.axvspan(0.6 * report.steps, report.steps, color="0.92", zorder=0)  # the plateau window
        _legend_right(ax)
    for ax in flat_axes[len(kinds):]:
        ax.set_visible(False)


def _coord_panels(c: CoordReport, axes, plt) -> None:
    """microsoft/mup's coord-check picture: width on x, RMS on y, one line per step; per kind, activations
    (top row) and the update's contribution ΔW·x (bottom row)."""
    cmap = plt.get_cmap("viridis")
    for col, k in enumerate(c.kinds):
        for row, quantity in enumerate(("activation", "update")):
            ax = axes[row][col]
            fits = k.series.get(quantity, [])
            for f in fits:
                if quantity == "update" and f.step == 0:
                    continue
                ax.plot(c.widths, f.rms, marker=".", color=cmap(f.step / max(c.steps, 1)), linewidth=1,
                        label=f"step {f.step}")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            name = "W·x" if quantity == "activation" else "ΔW·x"
            ax.set_title(f"{k.kind} {name} — {k.verdict}" if row == 0 else f"{k.kind} {name}", fontsize=8)
            ax.tick_params(labelsize=6)
            if col == 0:
                ax.set_ylabel(f"RMS of {name}", fontsize=7)
            if row == 1:
                ax.set_xlabel("width", fontsize=7)
            if not fits:
                ax.set_visible(False)
    if c.kinds:
        sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, c.steps))
        plt.colorbar(sm, ax=[a for row in axes for a in row], label="step", fraction=0.015, pad=0.01)


def _save(fig, path, plt) -> None:
    fig.savefig(path, dpi=90, metadata={"Software": None})  # no bbox "tight": it renders twice (2 s more)
    plt.close(fig)
    import os

    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def plot(report: VerifyReport, path) -> bool:
    """Write a PNG: σ against width per kind and loss against step; a σ-against-step panel per kind (the
    plateau window shaded); with a coord check, its panels below. False without matplotlib."""
    plt = _pyplot()
    if plt is None:
        return False
    n_kinds = len(report.kinds) or len({k for r in report.rungs for k in r.sigma_curve})
    sigma_rows = 1 + math.ceil(n_kinds / 2)
    fig = plt.figure(figsize=(13, 3.4 * sigma_rows + (6.5 if report.coord else 0)))
    outer = fig.add_gridspec(2 if report.coord else 1, 1, height_ratios=[3.4 * sigma_rows, 6.5] if report.coord
                             else None, hspace=0.25, left=0.06, right=0.88, top=0.95, bottom=0.05)
    top = outer[0].subgridspec(sigma_rows, 2, hspace=0.6, wspace=0.45)
    axes = [[fig.add_subplot(top[r, c]) for c in range(2)] for r in range(sigma_rows)]
    _sigma_panels(report, axes)
    if report.coord is not None and report.coord.kinds:
        n = len(report.coord.kinds)
        bottom = outer[1].subgridspec(2, n, hspace=0.5, wspace=0.4)
        caxes = [[fig.add_subplot(bottom[r, c]) for c in range(n)] for r in range(2)]
        _coord_panels(report.coord, caxes, plt)
    fig.suptitle(f"recipec verify: {report.recipe_name} → {report.size} ({report.model})")
    _save(fig, path, plt)
    return True


def plot_coord(c: CoordReport, path, title: str = "") -> bool:
    """The coord check's PNG alone (``--coord-check``). False without matplotlib."""
    plt = _pyplot()
    if plt is None:
        return False
    n = max(1, len(c.kinds))
    fig, axes = plt.subplots(2, n, figsize=(2.3 * n + 1.5, 5.2), squeeze=False)
    fig.subplots_adjust(left=0.06, right=0.9, wspace=0.45, hspace=0.45, top=0.86)
    _coord_panels(c, axes, plt)
    fig.suptitle(title or f"coord check: {c.model} — {c.verdict}")
    _save(fig, path, plt)
    return True
