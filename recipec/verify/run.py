"""``recipec verify``: plan the ladder, train every rung, judge, report."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from recipec import __version__
from recipec.diagnostics import Diagnostic, RecipecError
from recipec.transfer.engine import round_half_up
from recipec.verify import ladder
from recipec.verify.coord_verdict import CoordTolerance
from recipec.verify.progress import Progress, duration, plan_text
from recipec.verify.report import (
    Compression, KindReport, Tolerances, VerifyReport, coord_markdown, coord_terminal, markdown, plot, plot_coord,
    terminal, write_public,
)
from recipec.verify.verdict import (
    JUDGED_KINDS, REPORTED_KINDS, Tolerance, judge_kind, overall, plateaued, ratio_not_returning,
)

ASSUMPTION = ("Assumes σ_top ∝ √(η/λ)·d^a at steady state (Fan et al. 2025): a common factor on every rung's "
              "λ scales every rung's σ alike and leaves the ratios across widths, which the verdict judges, "
              "unchanged; it shortens the AdamW timescale τ = 1/(η·λ) so that a short run reaches steady state.")


DEFAULT_COORD_STEPS, DEFAULT_COORD_SEEDS = 10, 3


@dataclass
class VerifyOptions:
    size: str
    widths: str = "auto"
    depth: int = 4
    steps: int | None = None
    device: str | None = None
    data: str = "builtin"
    data_dtype: str = "uint16"
    seed: int = 0
    batch: int | None = None
    micro_batches: int | None = None  # default: one per process
    seq_len: int | None = None
    checkpoints: int = 20
    compression: str | float | None = "auto"
    warmup_fraction: float = 0.05
    compile: bool = False
    budget_minutes: float | None = None  # with widths "auto": the widest ladder that fits this many GPU-minutes
    tolerance: Tolerance = Tolerance()
    progress: bool = True
    model: str | None = None  # --model: a factory MODULE:CALLABLE or path/file.py:CALLABLE; None: the reference
    kind_map: dict = dataclasses.field(default_factory=dict)  # --kind-map: {regex: kind} for recipec.torch
    coord: str | None = None  # --coord-check: "only" (the coord check alone) or "also" (before the ladder)
    coord_steps: int = DEFAULT_COORD_STEPS
    coord_seeds: int = DEFAULT_COORD_SEEDS
    coord_tolerance: CoordTolerance = CoordTolerance()
    command: list[str] | None = None  # the command line, to print a ladder that fits the budget


DEFAULT_CPU_BUDGET_MINUTES = 5.0  # a plan estimated beyond this is refused on a CPU unless --budget says more
MIN_TAU_STEPS = 20  # below this compressed AdamW timescale the weights are a memory of a few updates: no steady state
MIN_TIMESCALES = 3.0  # the slowest rung must see this many timescales for σ to have settled


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
    from recipec.verify.data import builtin_corpus, token_file

    recipe = loaded.recipe
    _check_size(loaded, opts)
    source = source or _source(opts)
    device = _device(opts)
    on_gpu = device.startswith("cuda")
    target_width = recipe.sizes[opts.size].model.width or recipe.model.width
    if opts.widths.strip() == "auto":
        widths = ladder.auto_widths(recipe.model.width, target_width)
        while len(widths) < 4:
            widths.append(widths[-1] * 2)
    else:
        widths = ladder.parse_widths(opts.widths, recipe.model.width, target_width)
    if len(widths) < 4:
        raise RecipecError(Diagnostic(f"the coord check needs at least four widths (got {len(widths)})",
                                      path="--widths"))
    if opts.coord_steps < 2 or opts.coord_seeds < 1:
        raise RecipecError(Diagnostic("needs --coord-steps ≥ 2 and --coord-seeds ≥ 1", path="--coord-steps"))
    depth = opts.depth if opts.depth is not None else 4
    rungs = ladder.plan(loaded, opts.size, widths, depth)
    batch = opts.batch or (16 if on_gpu else 4)
    seq_len = opts.seq_len or min(128 if on_gpu else 32, recipe.model.seq_len)
    need = (opts.coord_steps + 1) * batch * (seq_len + 1) + seq_len + 2
    corpus = (builtin_corpus(need, min_tokens=seq_len + 2) if opts.data == "builtin" else
              token_file(opts.data, opts.data_dtype, recipe.model.vocab_size, seq_len + 2))
    _say(opts, f"coord check: {_model_name(source)}; widths {', '.join(map(str, widths))} (head_dim "
               f"{', '.join(str(r.resolved.shape.head_dim) for r in rungs)}) at depth {depth}; "
               f"{opts.coord_steps} steps × {batch} × {seq_len} tokens, {opts.coord_seeds} seeds, constant LR")
    if not on_gpu and not distributed_launched():
        _choose_cpu_threads(opts)
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
    if opts.depth is not None and opts.depth <= 0:
        raise RecipecError(Diagnostic("must be > 0", path="--depth"))


def _device(opts) -> str:
    import torch

    device = opts.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RecipecError(Diagnostic("CUDA is not available on this machine; use --device cpu", path="--device"))
    return device


def _cpu_flops(window: float = 0.05, warmup: float = 0.1) -> float:
    """The fp32 matmul rate this CPU gives right now at a training-like size, after a warm-up (a cold
    thread pool reads 10× low)."""
    import time

    import torch

    a, b = torch.randn(256, 512), torch.randn(512, 512)
    started = time.perf_counter()
    while time.perf_counter() - started < warmup:
        torch.mm(a, b)
    n, started = 0, time.perf_counter()
    while time.perf_counter() - started < window:
        torch.mm(a, b)
        n += 1
    return 2 * 256 * 512 * 512 * n / (time.perf_counter() - started)


def _choose_cpu_threads(opts) -> float:
    """Use torch's thread count or one thread, whichever is faster at its *worst* of three interleaved
    probes; returns that setting's median rate (what the plan assumes). On cores other processes share, a GEMM split
    over every core waits for the busiest one: on 2 shared cores, 2 threads measured 8-164 GFLOP/s from one
    second to the next and 1 thread a steady 92."""
    import torch

    threads = torch.get_num_threads()
    if threads == 1:
        return sorted(_cpu_flops() for _ in range(3))[1]
    multi, single = [], []
    for _ in range(3):
        torch.set_num_threads(threads)
        multi.append(_cpu_flops(warmup=0.05))
        torch.set_num_threads(1)
        single.append(_cpu_flops(warmup=0.02))
    if min(single) >= min(multi):
        _say(opts, f"CPU: 1 thread (at worst {min(single) / 1e9:.0f} GFLOP/s) is steadier than {threads} (at worst "
                   f"{min(multi) / 1e9:.0f}, at best {max(multi) / 1e9:.0f}) on this machine now: verify runs on 1 thread")
        return sorted(single)[1]
    torch.set_num_threads(threads)
    return sorted(multi)[1]


def _cpu_step_overhead(loaded, opts, source, width, depth, batch, seq_len, micro, cpu_flops, vocab) -> float:
    """The fixed cost of a training step on this CPU, beyond its FLOPs: twice twelve steps of the narrowest
    rung (the first six of each warm up and are not timed; the faster run counts), less their FLOPs at the
    measured matmul rate."""
    from recipec.verify.data import builtin_corpus, token_file
    from recipec.verify.train import RunSettings, train_rung

    rung = ladder.plan(loaded, opts.size, [width], depth)[0]
    corpus = (builtin_corpus(1 << 20, min_tokens=seq_len + 2) if opts.data == "builtin" else
              token_file(opts.data, opts.data_dtype, loaded.recipe.model.vocab_size, seq_len + 2))
    settings = RunSettings(steps=12, warmup_steps=1, batch=batch, seq_len=seq_len, checkpoints=[6, 12], device="cpu",
                           compression=1.0, seed=opts.seed, vocab_size=corpus.vocab_size, progress=False,
                           micro_batches=micro, source=source)
    rates = [train_rung(rung, settings, corpus, loaded.recipe, "probe").tokens_per_second for _ in range(2)]
    if not max(rates):
        return ladder.CPU_STEP_OVERHEAD_PER_LAYER_S * depth
    step = batch * seq_len / max(rates)  # the faster of two: a burst of other work during one probe is not the CPU
    flops = ladder.rung_cost(rung, vocab, batch, seq_len, 1, False, None, 0, cpu_flops).flops_per_step
    return max(0.0, step - flops / (cpu_flops * ladder.CPU_TRAIN_EFFICIENCY))


def run_verify(loaded, opts: VerifyOptions) -> VerifyReport:
    """Plan, train and judge the ladder. Under torchrun (WORLD_SIZE > 1) every rank returns the same
    report and the process group stays open: the caller writes from rank 0 and then calls
    ``recipec.verify.distributed.teardown()`` (which waits for every rank first)."""
    import torch

    from recipec.verify import distributed
    from recipec.verify.data import BYTE_VOCAB, builtin_corpus, token_file
    from recipec.verify.train import RunSettings, train_rung

    recipe = loaded.recipe
    _check_size(loaded, opts)
    source = _source(opts)
    target_width = (recipe.sizes[opts.size].model.width or recipe.model.width)
    device = _device(opts)
    on_gpu = device.startswith("cuda")
    depth = opts.depth if opts.depth is not None else 4
    batch = opts.batch or (32 if on_gpu else 8)
    world = int(os.environ.get("WORLD_SIZE", "1")) if distributed.launched() else 1
    micro = opts.micro_batches or world
    if micro <= 0 or micro % world:
        raise RecipecError(Diagnostic(f"must be a positive multiple of the {world} processes (got {micro})",
                                      path="--micro-batches"))
    if batch % micro:
        raise RecipecError(Diagnostic(f"batch {batch} does not split evenly into {micro} micro batches"
                                      + (f" over {world} processes" if world > 1 else "")
                                      + f"; pass a multiple of {micro}", path="--batch"))
    seq_len = opts.seq_len or min(512 if on_gpu else 64, recipe.model.seq_len)
    vocab = BYTE_VOCAB if opts.data == "builtin" else recipe.model.vocab_size
    memory_limit, peak, where = _device_capacity(device)
    cpu_flops = None if on_gpu else (_choose_cpu_threads(opts) if world == 1 else _cpu_flops())
    # (under torchrun each process keeps the thread count its launcher gave it)
    n_ck = max(2, opts.checkpoints)
    budget_minutes = opts.budget_minutes if opts.budget_minutes is not None else (
        None if on_gpu else DEFAULT_CPU_BUDGET_MINUTES)
    budget_seconds = None if budget_minutes is None else budget_minutes * 60

    overhead = None
    if not on_gpu and world == 1:
        first = (recipe.model.width if opts.widths.strip() == "auto" else
                 ladder.parse_widths(opts.widths, recipe.model.width, target_width)[0])
        _say(opts, f"measuring this CPU: matmul at {cpu_flops / 1e9:.1f} GFLOP/s; a few training steps at width {first}")
        overhead = _cpu_step_overhead(loaded, opts, source, first, depth, batch, seq_len, micro, cpu_flops, vocab)

    def cost(rung, steps):
        return ladder.rung_cost(rung, vocab, batch, seq_len, steps, on_gpu, peak, n_ck, cpu_flops, overhead)

    if opts.widths.strip() == "auto" and budget_seconds is not None:
        widths = ladder.plan_auto(loaded, opts.size, depth, recipe.model.width, target_width, cost,
                                  memory_limit, budget_seconds, opts.steps, opts.compression)
    else:
        widths = ladder.parse_widths(opts.widths, recipe.model.width, target_width)
    rungs = ladder.plan(loaded, opts.size, widths, depth)
    steps, factor, chosen, reached = ladder.choose_steps_and_compression(rungs, opts.steps, opts.compression)
    costs = [cost(r, steps) for r in rungs]
    ladder.check_fits(costs, memory_limit, where)
    throughput = (f"a GPU at {ladder.ASSUMED_GPU_MFU:.0%} MFU, the launch floor for narrow rungs" if on_gpu else
                  f"CPU matmul measured at {cpu_flops / 1e9:.1f} GFLOP/s")
    _say(opts, plan_text(model=_model_name(source), widths=widths, depth=depth, steps=steps, batch=batch,
                         seq_len=seq_len, checkpoints=n_ck, compression=factor, chosen=chosen, reached=reached,
                         costs=costs, throughput=throughput, budget_seconds=budget_seconds,
                         head_dims=[r.resolved.shape.head_dim for r in rungs]))
    if budget_seconds is not None and sum(c.seconds for c in costs) > budget_seconds:
        raise RecipecError(Diagnostic(_over_budget(loaded, opts, widths, costs, cost, depth, budget_seconds,
                                                   budget_minutes), path="--budget"))
    coord = run_coord(loaded, opts, source) if opts.coord == "also" else None

    sampled = steps * batch * (seq_len + 1)  # tokens the run draws
    need = sampled + seq_len + 2
    if opts.data == "builtin":
        corpus = builtin_corpus(min(need, 64 << 20), min_tokens=seq_len + 2)
    else:
        corpus = token_file(opts.data, opts.data_dtype, recipe.model.vocab_size, seq_len + 2)
    passes = sampled / len(corpus.tokens)
    if passes > 1:  # random windows: a short corpus is sampled more than once; say so
        corpus.description += f"; the run samples about {passes:.1f}× its length in random windows"
    checkpoints = sorted({max(1, round(steps * i / n_ck)) for i in range(1, n_ck + 1)} | {steps})
    warmup = max(1, round_half_up(opts.warmup_fraction, steps))
    dist = None
    if world > 1:
        dist, device = distributed.setup(device)
    primary = dist is None or dist.primary
    progress = Progress([c.seconds for c in costs]) if opts.progress and primary else None
    settings = RunSettings(steps=steps, warmup_steps=warmup, batch=batch, seq_len=seq_len, checkpoints=checkpoints,
                           device=device, compression=factor, seed=opts.seed, vocab_size=corpus.vocab_size,
                           progress=opts.progress and primary, micro_batches=micro,
                           compile=opts.compile, source=source, reporter=progress)

    reports = []
    try:
        for i, (rung, planned) in enumerate(zip(rungs, costs)):
            label = f"rung {i + 1}/{len(rungs)} width {rung.width}"
            if progress is not None:
                progress.start_rung(i)
            try:
                report = train_rung(rung, settings, corpus, recipe, label, dist)
                reports.append(report.model_copy(update={"memory_estimate_bytes": planned.memory_bytes,
                                                         "time_estimate_seconds": planned.seconds}))
            except torch.cuda.OutOfMemoryError:
                total = torch.cuda.get_device_properties(device).total_memory / 2**30
                raise RecipecError(Diagnostic(
                    f"ladder rung width {rung.width} did not fit in GPU memory ({total:.0f} GiB) with batch {batch} × "
                    f"{seq_len} tokens at depth {depth}; lower --batch or --seq-len, or drop that width",
                    path="--widths")) from None
    except BaseException:
        if dist is not None:
            distributed.teardown(wait=False)
        raise

    ref_width = recipe.model.width if recipe.model.width in widths else widths[0]
    ref_index = widths.index(ref_width)
    divergences = [f"width {r.width}: {r.diverged}" for r in reports if r.diverged]
    short = too_short(reports, reached, steps)
    verdicts = []
    if not divergences:
        present = [k for k in JUDGED_KINDS + REPORTED_KINDS if all(k in r.sigma_curve for r in reports)]
        for kind in present:
            sigma = [_late_mean(r.sigma_curve[kind]) for r in reports]
            flat = [plateaued(r.sigma_curve[kind], opts.tolerance.plateau) for r in reports]
            reference = reports[ref_index].sigma_curve[kind]
            away = [ratio_not_returning(r.sigma_curve[kind], reference, opts.tolerance) for r in reports]
            verdicts.append(judge_kind(kind, widths, sigma, flat, ref_index, opts.tolerance, away, short))
    kinds = [KindReport(**dataclasses.asdict(v)) for v in verdicts]
    verdict, reasons = overall(verdicts, divergences, short)
    if coord is not None and coord.verdict != "pass" and verdict != "fail":
        verdict = "fail" if coord.verdict == "fail" else "inconclusive"
    if coord is not None and coord.verdict != "pass":
        reasons = reasons + [f"coord check {coord.verdict}: {r}" for r in coord.reasons]
    t = opts.tolerance
    return VerifyReport(
        recipec_version=__version__, recipe_name=recipe.name, recipe_file=loaded.path,
        recipe_sha256=loaded.sha256, size=opts.size, rulesets=[rs.name for rs in rungs[0].resolved.rulesets],
        device=_device_name(device, world), dtype="bf16 autocast" if on_gpu else "fp32", data=corpus.description,
        data_sha256=corpus.sha256, widths=widths, reference_width=ref_width, depth=depth, seq_len=seq_len,
        batch=batch, micro_batches=micro, processes=world, steps=steps, warmup_steps=warmup, seed=opts.seed,
        schedule=f"linear warmup over {warmup} steps, then constant LR",
        compression=Compression(factor=factor, chosen=chosen, timescales_reached=reached, assumption=ASSUMPTION),
        tolerance=Tolerances(slope=t.slope, ratio_low=t.ratio_low, ratio_high=t.ratio_high, plateau=t.plateau),
        rungs=reports, kinds=kinds, verdict=verdict, reasons=reasons, model=source.name, coord=coord,
    )


def too_short(reports, reached: float | None, steps: int) -> str | None:
    """Why this run is too short for its AdamW timescale to judge σ at steady state, or None.

    Steady state σ ∝ √(η/λ) is the balance of updates and decay averaged over τ = 1/(η·λ) steps; it needs
    several τ, and a τ of many steps (with τ of a few steps, after strong time compression, the weights
    are a memory of the last few normalised updates and of the warmup, not a steady state)."""
    taus = [r.tau_steps for r in reports if r.tau_steps is not None]
    if not taus:
        return None
    tau = max(taus)
    if tau < MIN_TAU_STEPS:
        return (f"run too short for its timescale: after the weight-decay compression the slowest rung's AdamW "
                f"timescale τ = 1/(η·λ) is {tau:.1f} steps, under the {MIN_TAU_STEPS} a steady state needs; "
                f"run at least {math.ceil(ladder.TIMESCALES * MIN_TAU_STEPS)} steps (--steps) with "
                "--wd-compression auto")
    if reached is not None and reached < MIN_TIMESCALES:
        return (f"run too short for its timescale: the slowest rung sees {reached:.2f} AdamW timescales of the "
                f"{MIN_TIMESCALES:g} σ needs to settle (τ = {tau:.0f} steps, {steps} steps); raise --steps or "
                "--wd-compression")
    return None


def _over_budget(loaded, opts, widths, costs, cost, depth, budget_seconds, budget_minutes) -> str:
    """The refusal of a plan beyond the budget, with the command of a ladder that fits."""
    total = sum(c.seconds for c in costs)
    fit = None
    for top in range(len(widths) - 1, 1, -1):  # the narrowest rungs first: drop the widest
        sub = widths[:top]
        sub_rungs = ladder.plan(loaded, opts.size, sub, depth)
        sub_steps = ladder.choose_steps_and_compression(sub_rungs, opts.steps, opts.compression)[0]
        seconds = sum(cost(r, sub_steps).seconds for r in sub_rungs)
        if seconds <= budget_seconds:
            fit = (sub, seconds)
            break
    text = (f"the plan needs about {duration(total)}, more than the budget of {duration(budget_seconds)}"
            + ("" if opts.budget_minutes is not None else
               f" (the CPU default; --budget MINUTES allows more)"))
    if fit is None:
        two = widths[:2]
        two_rungs = ladder.plan(loaded, opts.size, two, depth)
        two_steps = ladder.choose_steps_and_compression(two_rungs, opts.steps, opts.compression)[0]
        need = sum(cost(r, two_steps).seconds for r in two_rungs)
        return text + ("; no ladder of two or more of these widths fits: lower --batch, --seq-len, --depth or --steps, "
                       f"or allow the two narrowest (about {duration(need)}): "
                       + _command_with(_command_with_list(opts.command, "--widths", ",".join(map(str, two))), "--budget",
                                       f"{math.ceil(need / 60 * 1.2 * 100) / 100:g}"))
    cmd = _command_with(opts.command, "--widths", ",".join(map(str, fit[0])))
    return text + f"; a ladder that fits (about {duration(fit[1])}): {cmd}"


def _command_with(argv: list[str] | None, flag: str, value: str) -> str:
    import shlex

    return shlex.join(_command_with_list(argv, flag, value))


def _command_with_list(argv: list[str] | None, flag: str, value: str) -> list[str]:
    argv = list(argv or ["recipec", "verify", "RECIPE", "--size", "SIZE"])
    out, skip = [], False
    for i, a in enumerate(argv):
        if skip:
            skip = False
            continue
        if a == flag:
            skip = True
            continue
        if a.startswith(flag + "="):
            continue
        out.append(a)
    return out + [flag, value]


def _device_capacity(device: str) -> tuple[float, float | None, str]:
    """(memory in bytes, dense bf16 peak FLOP/s or None, a name for messages)."""
    import torch

    from recipec.verify.train import PEAK_BF16_FLOPS

    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(device)
        peak = next((v for k, v in PEAK_BF16_FLOPS.items() if k in props.name), None)
        return float(props.total_memory), peak, f"the GPU ({props.name})"
    try:
        with open("/proc/meminfo") as f:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f}
        return float(info.get("MemAvailable", info["MemTotal"])), None, "available RAM"
    except (OSError, KeyError, ValueError):
        return float("inf"), None, "RAM"


def _late_mean(curve: list[tuple[int, float]]) -> float:
    """σ at the end of a rung: the mean over the checkpoints of the last fifth of the run (less noise than
    the last checkpoint alone)."""
    end = curve[-1][0]
    late = [v for s, v in curve if s >= 0.8 * end]
    return sum(late) / len(late)


def _device_name(device: str, world: int = 1) -> str:
    import torch

    if device.startswith("cuda"):
        name = f"cuda ({torch.cuda.get_device_name(device)})"
    else:
        name = f"cpu ({torch.get_num_threads()} threads)"
    return name if world == 1 else f"{name} × {world} processes, FSDP2 (fully_shard per block and root)"


def write_outputs(report: VerifyReport, out: Path) -> list[Path]:
    """verify.json, verify.md and (with matplotlib) verify.png, 0666 less the umask like other outputs."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "verify.json", out / "verify.md"]
    write_public(paths[0], json.dumps(report.model_dump(mode="json"), indent=2) + "\n")
    write_public(paths[1], markdown(report))
    png = out / "verify.png"
    if plot(report, png):
        paths.append(png)
    return paths


def write_coord_outputs(coord, out: Path, title: str) -> list[Path]:
    """coord.json, coord.md and coord.png of a coord check run alone."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "coord.json", out / "coord.md"]
    write_public(paths[0], json.dumps(coord.model_dump(mode="json"), indent=2) + "\n")
    write_public(paths[1], coord_markdown(coord, heading="#") + f"\n{title}\n")
    png = out / "coord.png"
    if plot_coord(coord, png, title):
        paths.append(png)
    return paths


__all__ = ["VerifyOptions", "run_verify", "run_coord", "write_outputs", "write_coord_outputs", "terminal",
           "coord_terminal"]
