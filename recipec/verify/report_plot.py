"""The verify report's PNG (matplotlib, when installed): σ against width and step, loss, the coord check's
RMS against width. No torch here.
"""

from __future__ import annotations

import math

from recipec.verify.report import CoordReport, VerifyReport, make_public


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
    make_public(path)


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
