"""The verify report as text: the terminal table and the Markdown summary, of the σ ladder and of the coord
check. No torch here.
"""

from __future__ import annotations

from recipec.verify.report import CoordKindReport, CoordReport, VerifyReport

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


def kind_hyper_table(report: VerifyReport) -> list[str]:
    """Markdown: what trained every kind at each rung (optimizer, LR, coupled WD as run, eps, init std)."""
    rungs = [r for r in report.rungs if r.kind_hyper]
    if not rungs:
        return []
    lines = ["", "| kind | optimizer | " + " | ".join(f"LR / WD (run) @ {r.width}" for r in rungs)
             + f" | eps | init std @ {rungs[-1].width} |", "|---|---|" + "---|" * (len(rungs) + 2)]
    for kind, h in rungs[-1].kind_hyper.items():
        opt = h.optimizer if h.optimizer != "muon" else (
            f"muon (momentum {h.momentum:g}{', nesterov' if h.nesterov else ''}, {h.ns_steps} NS steps, "
            f"adjust_lr {h.adjust_lr})")
        cells = [f"{r.kind_hyper[kind].lr:.4g} / {r.kind_hyper[kind].weight_decay:.4g}" if kind in r.kind_hyper
                 else "-" for r in rungs]
        init = f"{h.init_std:.4g}" if h.init_std is not None else "-"
        lines.append(f"| {kind} | {opt} | " + " | ".join(cells) + f" | {h.eps:.3g} | {init} |")
    return lines


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
    for r in report.rungs:  # the hidden class's representative kind, q: its Muon numbers where Muon trains it
        h = r.kind_hyper["q"] if r.kind_hyper and "q" in r.kind_hyper else r.hyper["hidden"]
        tau = f"{r.tau_steps:.0f}" if r.tau_steps is not None else "-"
        loss = f"{r.final_loss:.4f}" if r.final_loss is not None else "-"
        mfu = f"{r.mfu:.1%}" if r.mfu is not None else "-"
        planned = f"{r.memory_estimate_bytes / 2**30:.2f}" if r.memory_estimate_bytes is not None else "-"
        peak = f"{r.memory_peak_bytes / 2**30:.2f}" if r.memory_peak_bytes is not None else "-"
        lines.append(f"| {r.width} | {r.params:,} | {h.lr:.4g} | {h.weight_decay:.4g} | {tau} | {loss} | "
                     f"{r.tokens_per_second:,.0f} | {mfu} | {planned} / {peak} |")
    lines += kind_hyper_table(report)
    lines.append("")
    lines.append("Embedding, output and router matrices are reported for information; the verdict judges the "
                 "matrix-like kinds (q, k, v, o, MLP in/out, and a mixture of experts' expert and shared-expert "
                 "in/out), which the width rule is about. An expert kind's σ is the mean over its experts' "
                 "matrices (each its own 2-D weight) and the layers.")
    if report.coord is not None:
        lines += ["", coord_markdown(report.coord).rstrip("\n")]
    return "\n".join(lines) + "\n"
