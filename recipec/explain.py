"""Human-readable provenance of a resolved recipe (``recipec explain``)."""

from __future__ import annotations

from recipec.diagnostics import Diagnostic, RecipecError
from recipec.resolved import Resolved, Step, Value
from recipec.transfer.ruleset import AXIS_SYMBOL


def fmt(x: float | int | None) -> str:
    if x is None:
        return "-"
    if isinstance(x, int):
        return f"{x:,}"
    return f"{x:.6g}"


def human(n: float) -> str:
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:.3g}"


def describe_step(step: Step) -> str:
    if step.kind == "proxy":
        return f"proxy {step.note}" if step.note else "proxy"
    if step.kind == "power":
        sym = AXIS_SYMBOL.get(step.axis or "", step.axis)
        if step.dim is not None:
            sym = step.dim.replace("_", "-")
        return f"{step.ruleset}: {step.axis} {sym}={step.ratio:.6g}^{step.exponent:g} → ×{step.factor:.6g}"
    if step.kind == "fixed":
        return f"{step.ruleset}: fixed {step.value:g}" + (f" ({step.note})" if step.note else "")
    if step.kind == "formula":
        return f"{step.ruleset}: {step.note}"
    if step.kind == "convert":
        return f"convert {step.note}"
    return f"override: {step.note}"


def describe(value: Value) -> str:
    steps = [describe_step(s) for s in value.chain[1:]]
    return "; ".join(steps) if steps else "unchanged (no rule)"


def explain_rows(resolved: Resolved, only: tuple[str, ...] = ()) -> list[tuple[str, str, str, str]]:
    values = resolved.values()
    keys = list(values)
    if only:
        unknown = [k for k in only if k not in values]
        if unknown:
            import difflib

            hints = [difflib.get_close_matches(k, keys, n=1) for k in unknown]
            hint = ", ".join(f"did you mean '{h[0]}'?" for h in hints if h) or "known: " + ", ".join(keys)
            raise RecipecError(Diagnostic(f"no compiled value named {', '.join(map(repr, unknown))}",
                                          path="--only", hint=hint))
        keys = [k for k in keys if k in only]
    return [(k, fmt(values[k].proxy), fmt(values[k].value), describe(values[k])) for k in keys]


def explain_text(resolved: Resolved, only: tuple[str, ...] = ()) -> str:
    r = resolved
    lines = []
    ratios = "  ".join(f"{axis} {AXIS_SYMBOL[axis]}={r.ratios[axis]:.6g}" for axis in r.ratios)
    lines.append(f"{r.recipe_name} ({r.recipe_file}) → size {r.size}")
    lines.append(f"ratios: {ratios}")
    for rs in r.rulesets:
        params = "".join(f" {k}={v:g}" for k, v in rs.params.items())
        lines.append(f"rule set {rs.name}{params} ({rs.file}): {rs.citation}")
    lines.append("")
    rows = explain_rows(r, only)
    header = ("value", "proxy", "target", "how")
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(3)]
    lines.append(f"{header[0]:<{widths[0]}}  {header[1]:>{widths[1]}}  {header[2]:>{widths[2]}}  {header[3]}")
    for row in rows:
        lines.append(f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}")
    if not only:
        d, s, b = r.derived, r.schedule, r.batch
        sh = r.shape
        lines.append("")
        lines.append(f"shape: width {sh.width}, depth {sh.depth}, heads {sh.heads} × {sh.head_dim} "
                     f"(kv {sh.kv_heads}), ffn {sh.ffn_hidden}, vocab {sh.vocab_size}, seq {sh.seq_len}")
        if sh.moe:
            lines.append(f"experts: {sh.num_experts} routed (top-{sh.top_k}) + {sh.shared_experts} shared per block, "
                         f"expert ffn {sh.expert_ffn_hidden}; {human(d.active_params or 0)} of "
                         f"{human(d.total_params)} parameters active per token; expert parallel "
                         f"{r.cluster.expert_parallel}")
        lines.append(f"params: {human(d.total_params)} total, {human(d.non_embedding_params)} non-embedding "
                     f"(hidden {human(d.params_by_class['hidden'])}, "
                     f"embedding {human(d.params_by_class['embedding'])}, "
                     f"output {human(d.params_by_class['output'])}, vector {human(d.params_by_class['vector'])})")
        lines.append(f"training: {human(d.tokens)} tokens, {d.tokens_per_param:.3g} tokens/param, "
                     f"{d.training_flops:.3e} FLOPs (6·N·D + attention)")
        lines.append(f"batch: {b.global_sequences:,} sequences = {b.global_tokens:,} tokens; micro batch "
                     f"{b.micro_batch} × data parallel {b.data_parallel} × accumulation "
                     f"{b.grad_accum if b.grad_accum is not None else '(does not divide)'}")
        lines.append(f"schedule: {s.total_steps:,} steps, warmup {s.warmup_steps:,}, {s.decay} decay over "
                     f"{s.decay_steps:,}, min LR ratio {s.min_lr_ratio:g}")
        q = r.kinds.get("q")
        if q is not None and q.optimizer == "muon":
            from recipec.resolved import adamw_timescale

            c = r.kind_coupled("q")
            tau = adamw_timescale(c.lr, c.weight_decay)
            lines.append(f"Muon timescale (q): τ = 1/(η·λ) = {tau:,.0f} steps = {tau / s.total_steps:.3g} of the run"
                         if tau is not None else "Muon timescale (q): no weight decay")
        if d.adamw_timescale_steps is not None:
            lines.append(f"AdamW timescale (hidden): τ = 1/(η·λ) = {d.adamw_timescale_steps:,.0f} steps = "
                         f"{d.adamw_timescale_fraction:.3g} of the run")
        else:
            lines.append("AdamW timescale (hidden): no weight decay")
        if r.muon is not None:
            m = r.muon
            lines.append(f"muon: {', '.join(m.kinds) or 'no kind present'}; adjust_lr {m.adjust_lr} (applied by "
                         f"the optimizer), momentum {m.momentum:g}{' nesterov' if m.nesterov else ''}, "
                         f"{m.ns_steps} Newton–Schulz steps; the rest: {r.optimizer.name}")
    for w in r.warnings:
        lines.append(w.format())
    return "\n".join(lines) + "\n"
