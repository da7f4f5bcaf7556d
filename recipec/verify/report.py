"""The verify report: a pydantic model (its JSON Schema is committed as schemas/verify-report.schema.json),
a terminal table, a Markdown summary and an optional PNG plot. No torch here.
"""

from __future__ import annotations

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


def schema() -> dict:
    from recipec.schema import SCHEMA_DIALECT

    s = VerifyReport.model_json_schema()
    return {"$schema": SCHEMA_DIALECT, "$id": "https://recipec.dev/schemas/verify-report.schema.json",
            "title": "recipec verify report", **{k: v for k, v in s.items() if k != "title"}}


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
        f"rule sets: {', '.join(report.rulesets)}; data: {report.data}",
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
    return "\n".join(out) + "\n"


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
    return "\n".join(lines) + "\n"


def plot(report: VerifyReport, path) -> bool:
    """Write a PNG (σ against width per kind, loss against step per rung); False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for k in report.kinds:
        ax1.plot(report.widths, k.sigma, marker="o", linestyle="-" if k.judged else ":",
                 label=f"{k.kind} ({k.slope:+.2f})")
    ax1.set_xscale("log", base=2)
    ax1.set_yscale("log")
    ax1.set_xlabel("width")
    ax1.set_ylabel("top singular value σ (mean over layers)")
    ax1.set_title(f"σ vs width — {report.verdict}")
    if report.kinds:
        ax1.legend(fontsize=7)
    else:
        ax1.text(0.5, 0.5, "no σ table: a rung diverged", ha="center", transform=ax1.transAxes)
    for r in report.rungs:
        if r.loss_curve:
            steps, losses = zip(*r.loss_curve)
            ax2.plot(steps, losses, label=f"width {r.width}")
    ax2.set_xlabel("step")
    ax2.set_ylabel("training loss")
    if any(r.loss_curve for r in report.rungs):
        ax2.legend(fontsize=7)
    fig.suptitle(f"recipec verify: {report.recipe_name} → {report.size}")
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return True
