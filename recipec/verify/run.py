"""``recipec verify``: plan the ladder, train every rung, judge, report.

Stages of :func:`run_verify`: the run's setup (device, batch split, sequence length: :func:`_setup`),
the plan (widths, steps, compression, cost; refused beyond the budget: :func:`_plan`), training every rung
(:func:`_train_ladder`), the verdict (:func:`_judge`) and the report (:func:`_report`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from recipec import __version__
from recipec.transfer.engine import round_half_up
from recipec.verify import device as devices
from recipec.verify import ladder
from recipec.verify.budget import over_budget
from recipec.verify.data import corpus_for
from recipec.verify.options import OptionError, VerifyOptions, flag
from recipec.verify.progress import Progress, duration, plan_text
from recipec.verify.report import Compression, VerifyReport, write_coord_outputs, write_outputs
from recipec.verify.report_text import coord_terminal, terminal
from recipec.verify.verdict import (
    JUDGED_KINDS,
    REPORTED_KINDS,
    judge_kind,
    overall,
    plateaued,
    ratio_not_returning,
    too_short,
)

ASSUMPTION = ("Assumes σ_top ∝ √(η/λ)·d^a at steady state (Fan et al. 2025): a common factor on every rung's "
              "λ scales every rung's σ alike and leaves the ratios across widths, which the verdict judges, "
              "unchanged; it shortens the AdamW timescale τ = 1/(η·λ) so that a short run reaches steady state.")

MUON_ASSUMPTION = (" Muon decays its matrices the same way (w ← w·(1 − η·λ) − η·s·O, torch.optim.Muon): their steady "
                   "σ is about s/λ when the updates align and s·√(η/(2λ)) when they random-walk, so the common factor "
                   "on λ again scales every rung's σ alike; τ is then the slowest Muon kind's 1/(η·λ).")

DEFAULT_CPU_BUDGET_MINUTES = 5.0  # a plan estimated beyond this is refused on a CPU unless --budget says more


def _source(opts: VerifyOptions):
    from recipec.verify.factory import ModelSource, load_factory

    if not opts.model:
        return ModelSource()
    return ModelSource(load_factory(opts.model), opts.model, dict(opts.kind_map))


def _say(opts: VerifyOptions, text: str) -> None:
    """A line for the user on stderr, flushed at once (rank 0 only under torchrun)."""
    import sys

    from recipec.verify import distributed

    if opts.progress and distributed.is_primary():
        sys.stderr.write(text if text.endswith("\n") else text + "\n")
        sys.stderr.flush()


def _model_name(source) -> str:
    return "reference LLaMA-style model" if source.is_reference else f"model {source.name}"


def run_coord(loaded, opts: VerifyOptions, source=None):
    """The coord check alone (``--coord-check``): a few steps at ≥ 4 widths; a ``CoordReport``."""
    import torch

    from recipec.verify.coord import CoordSettings, run_coord_check

    recipe = loaded.recipe
    _check_size(loaded, opts)
    source = source or _source(opts)
    device = devices.choose_device(opts)
    on_gpu = device.startswith("cuda")
    if opts.widths.strip() == "auto":
        widths = ladder.auto_widths(recipe.model.width, ladder.target_width(loaded, opts.size))
        while len(widths) < 4:
            widths.append(widths[-1] * 2)
    else:
        widths = ladder.parse_widths(opts.widths, recipe.model.width, ladder.target_width(loaded, opts.size))
    if len(widths) < 4:
        raise OptionError("widths", f"the coord check needs at least four widths (got {len(widths)})")
    rungs = ladder.plan(loaded, opts.size, widths, opts.depth)
    batch = opts.batch or (16 if on_gpu else 4)
    seq_len = opts.seq_len or min(128 if on_gpu else 32, recipe.model.seq_len)
    need = (opts.coord_steps + 1) * batch * (seq_len + 1) + seq_len + 2
    corpus = corpus_for(opts, recipe.model.vocab_size, seq_len, need)
    _say(opts, f"coord check: {_model_name(source)}; widths {', '.join(map(str, widths))} (head_dim "
               f"{', '.join(str(r.resolved.shape.head_dim) for r in rungs)}) at depth {opts.depth}; "
               f"{opts.coord_steps} steps × {batch} × {seq_len} tokens, {opts.coord_seeds} seeds, constant LR")
    if not on_gpu and not distributed_launched():
        devices.choose_cpu_threads(lambda text: _say(opts, text))
    settings = CoordSettings(steps=opts.coord_steps, seeds=opts.coord_seeds, batch=batch, seq_len=seq_len,
                             device=device, seed=opts.seed, tolerance=opts.coord_tolerance)
    torch.manual_seed(opts.seed)
    return run_coord_check(loaded, rungs, source, settings, corpus,
                           progress=lambda text, elapsed: _say(opts, f"  {text} done · elapsed {duration(elapsed)}"))


def distributed_launched() -> bool:
    from recipec.verify import distributed

    return distributed.launched()


def _check_size(loaded, opts) -> None:
    if opts.size not in loaded.recipe.sizes:
        from recipec.transfer import resolve_loaded

        resolve_loaded(loaded, opts.size)  # raises the located "no size named" error


@dataclass(frozen=True)
class Plan:
    widths: list[int]
    rungs: list
    steps: int
    factor: float  # the weight-decay time compression
    chosen: str
    reached: float | None
    checkpoints: int
    costs: list


def _plan(loaded, opts: VerifyOptions, source, s: devices.Setup) -> Plan:
    """Widths, steps and compression, and the cost of every rung; printed, and refused beyond memory or budget."""
    recipe = loaded.recipe
    n_ck = max(2, opts.checkpoints)
    budget_minutes = opts.budget_minutes if opts.budget_minutes is not None else (
        None if s.on_gpu else DEFAULT_CPU_BUDGET_MINUTES)
    budget_seconds = None if budget_minutes is None else budget_minutes * 60

    def cost(rung, steps):
        return s.cost(rung, steps, n_ck)

    if opts.widths.strip() == "auto" and budget_seconds is not None:
        widths = ladder.plan_auto(loaded, opts.size, opts.depth, recipe.model.width,
                                  ladder.target_width(loaded, opts.size), cost, s.memory_limit, budget_seconds,
                                  opts.steps, opts.compression)
    else:
        widths = ladder.parse_widths(opts.widths, recipe.model.width, ladder.target_width(loaded, opts.size))
    rungs = ladder.plan(loaded, opts.size, widths, opts.depth)
    steps, factor, chosen, reached = ladder.choose_steps_and_compression(rungs, opts.steps, opts.compression)
    costs = [cost(r, steps) for r in rungs]
    ladder.check_fits(costs, s.memory_limit, s.where)
    throughput = (f"a GPU at {ladder.ASSUMED_GPU_MFU:.0%} MFU, the launch floor for narrow rungs" if s.on_gpu else
                  f"CPU matmul measured at {s.cpu_flops / 1e9:.1f} GFLOP/s")
    _say(opts, plan_text(model=_model_name(source), widths=widths, depth=opts.depth, steps=steps, batch=s.batch,
                         seq_len=s.seq_len, checkpoints=n_ck, compression=factor, chosen=chosen, reached=reached,
                         costs=costs, throughput=throughput, budget_seconds=budget_seconds,
                         head_dims=[r.resolved.shape.head_dim for r in rungs]))
    if budget_seconds is not None and sum(c.seconds for c in costs) > budget_seconds:
        raise OptionError("budget_minutes", over_budget(loaded, opts, widths, costs, cost, opts.depth,
                                                        budget_seconds, budget_minutes))
    return Plan(widths, rungs, steps, factor, chosen, reached, n_ck, costs)


def run_verify(loaded, opts: VerifyOptions) -> VerifyReport:
    """Plan, train and judge the ladder. Under torchrun (WORLD_SIZE > 1) every rank returns the same
    report and the process group stays open: the caller writes from rank 0 and then calls
    ``recipec.verify.distributed.teardown()`` (which waits for every rank first)."""
    _check_size(loaded, opts)
    source = _source(opts)
    s = devices.setup(loaded, opts, source, lambda text: _say(opts, text))
    plan = _plan(loaded, opts, source, s)
    coord = run_coord(loaded, opts, source) if opts.coord == "also" else None
    sampled = plan.steps * s.batch * (s.seq_len + 1)  # tokens the run draws
    corpus = corpus_for(opts, loaded.recipe.model.vocab_size, s.seq_len, min(sampled + s.seq_len + 2, 64 << 20))
    passes = sampled / len(corpus.tokens)
    if passes > 1:  # random windows: a short corpus is sampled more than once; say so
        corpus.description += f"; the run samples about {passes:.1f}× its length in random windows"
    warmup = max(1, round_half_up(opts.warmup_fraction, plan.steps))
    reports, device = _train_ladder(opts, source, s, plan, corpus, warmup)
    return _report(loaded, opts, source, s, plan, corpus, warmup, reports, device, coord)


def _train_ladder(opts: VerifyOptions, source, s: devices.Setup, plan: Plan, corpus, warmup: int):
    """Train every rung (under torchrun, on this rank's share); (rung reports, the device trained on)."""
    import torch

    from recipec.verify import distributed
    from recipec.verify.train import RunSettings, train_rung

    steps = plan.steps
    checkpoints = sorted({max(1, round(steps * i / plan.checkpoints)) for i in range(1, plan.checkpoints + 1)}
                         | {steps})
    dist, device = None, s.device
    if s.world > 1:
        dist, device = distributed.setup(device)
    primary = dist is None or dist.primary
    progress = Progress([c.seconds for c in plan.costs]) if opts.progress and primary else None
    settings = RunSettings(steps=steps, warmup_steps=warmup, batch=s.batch, seq_len=s.seq_len, checkpoints=checkpoints,
                           device=device, compression=plan.factor, seed=opts.seed, vocab_size=corpus.vocab_size,
                           progress=opts.progress and primary, micro_batches=s.micro,
                           compile=opts.compile, source=source, reporter=progress)
    reports = []
    try:
        for i, (rung, planned) in enumerate(zip(plan.rungs, plan.costs)):
            if progress is not None:
                progress.start_rung(i)
            try:
                report = train_rung(rung, settings, corpus, f"rung {i + 1}/{len(plan.rungs)} width {rung.width}", dist)
            except torch.cuda.OutOfMemoryError:
                total = torch.cuda.get_device_properties(device).total_memory / 2**30
                raise OptionError("widths", f"ladder rung width {rung.width} did not fit in GPU memory ({total:.0f} "
                                  f"GiB) with batch {s.batch} × {s.seq_len} tokens at depth {opts.depth}; lower "
                                  f"{flag('batch')} or {flag('seq_len')}, or drop that width") from None
            reports.append(report.model_copy(update={"memory_estimate_bytes": planned.memory_bytes,
                                                     "time_estimate_seconds": planned.seconds}))
    except BaseException:
        if dist is not None:
            distributed.teardown(wait=False)
        raise
    return reports, device


def _judge(opts: VerifyOptions, plan: Plan, reports, ref_index: int, coord):
    """(kinds, verdict, reasons): every kind's σ across the ladder, the overall verdict, the coord check's."""
    divergences = [f"width {r.width}: {r.diverged}" for r in reports if r.diverged]
    short = too_short(reports, plan.reached, plan.steps)
    kinds, t = [], opts.tolerance
    if not divergences:
        present = [k for k in JUDGED_KINDS + REPORTED_KINDS if all(k in r.sigma_curve for r in reports)]
        for kind in present:
            sigma = [_late_mean(r.sigma_curve[kind]) for r in reports]
            flat = [plateaued(r.sigma_curve[kind], t.plateau) for r in reports]
            reference = reports[ref_index].sigma_curve[kind]
            away = [ratio_not_returning(r.sigma_curve[kind], reference, t) for r in reports]
            kinds.append(judge_kind(kind, plan.widths, sigma, flat, ref_index, t, away, short))
    verdict, reasons = overall(kinds, divergences, short)
    if coord is not None and coord.verdict != "pass" and verdict != "fail":
        verdict = "fail" if coord.verdict == "fail" else "inconclusive"
    if coord is not None and coord.verdict != "pass":
        reasons = reasons + [f"coord check {coord.verdict}: {r}" for r in coord.reasons]
    return kinds, verdict, reasons


def _report(loaded, opts, source, s: devices.Setup, plan: Plan, corpus, warmup, reports, device, coord) -> VerifyReport:
    recipe, widths = loaded.recipe, plan.widths
    ref_width = recipe.model.width if recipe.model.width in widths else widths[0]
    kinds, verdict, reasons = _judge(opts, plan, reports, widths.index(ref_width), coord)
    return VerifyReport(
        recipec_version=__version__, recipe_name=recipe.name, recipe_file=loaded.path,
        recipe_sha256=loaded.sha256, size=opts.size, rulesets=[rs.name for rs in plan.rungs[0].resolved.rulesets],
        device=devices.device_name(device, s.world), dtype="bf16 autocast" if s.on_gpu else "fp32",
        data=corpus.description, data_sha256=corpus.sha256, widths=widths, reference_width=ref_width,
        depth=opts.depth, seq_len=s.seq_len, batch=s.batch, micro_batches=s.micro, processes=s.world,
        steps=plan.steps, warmup_steps=warmup, seed=opts.seed,
        schedule=f"linear warmup over {warmup} steps, then constant LR",
        compression=Compression(factor=plan.factor, chosen=plan.chosen, timescales_reached=plan.reached,
                                assumption=ASSUMPTION + (MUON_ASSUMPTION if plan.rungs[0].resolved.muon else "")),
        tolerance=opts.tolerance, rungs=reports, kinds=kinds, verdict=verdict, reasons=reasons, model=source.name,
        coord=coord,
    )


def _late_mean(curve: list[tuple[int, float]]) -> float:
    """σ at the end of a rung: the mean over the checkpoints of the last fifth of the run (less noise than
    the last checkpoint alone)."""
    end = curve[-1][0]
    late = [v for s, v in curve if s >= 0.8 * end]
    return sum(late) / len(late)


def verify_to(loaded, opts: VerifyOptions, out: Path, echo) -> VerifyReport:
    """Run the ladder (with ``opts.calibrate`` then calibrate and confirm: ``recipec.verify.calibrate``),
    write the outputs under ``out`` and ``echo(text, err=False)`` the report. Under torchrun every rank
    trains, rank 0 writes and echoes, and the process group is closed once every rank is done. Returns
    the report the verdict (and so the exit status) follows."""
    from recipec.verify import distributed

    if opts.calibrate:  # refuse before any training when there is no exponent to calibrate
        from recipec.transfer import resolve_loaded
        from recipec.verify.calibrate import hidden_wd_width_rule

        hidden_wd_width_rule(resolve_loaded(loaded, opts.size))
    report = run_verify(loaded, opts)
    try:
        if opts.calibrate:
            from recipec.verify.calibrate import calibrate_and_report

            return calibrate_and_report(loaded, opts, report, out, echo)
        if distributed.is_primary():  # every rank holds the same report
            paths = write_outputs(report, out)
            echo(terminal(report))
            echo("wrote " + ", ".join(str(p) for p in paths) + "\n", err=True)
        return report
    finally:
        distributed.teardown()  # waits for rank 0 before any rank exits


def coord_to(loaded, opts: VerifyOptions, out: Path, echo):
    """The coord check alone (``opts.coord == "only"``): run it, write coord.json/.md/.png under ``out``
    and ``echo`` the table; returns the ``CoordReport``."""
    report = run_coord(loaded, opts)
    title = f"recipec verify --coord-check: {loaded.recipe.name} → {opts.size} ({report.model})"
    paths = write_coord_outputs(report, out, title)
    echo(coord_terminal(report))
    echo("wrote " + ", ".join(str(p) for p in paths) + "\n", err=True)
    return report


__all__ = ["VerifyOptions", "run_verify", "run_coord", "verify_to", "coord_to", "write_outputs",
           "write_coord_outputs", "terminal", "coord_terminal"]
