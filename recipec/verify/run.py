"""``recipec verify``: plan the ladder, train every rung, judge, report."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

from recipec import __version__
from recipec.diagnostics import Diagnostic, RecipecError
from recipec.transfer.engine import round_half_up
from recipec.verify import ladder
from recipec.verify.report import (
    Compression, KindReport, Tolerances, VerifyReport, markdown, plot, terminal,
)
from recipec.verify.verdict import (
    JUDGED_KINDS, REPORTED_KINDS, Tolerance, judge_kind, overall, plateaued, ratio_not_returning,
)

ASSUMPTION = ("Assumes σ_top ∝ √(η/λ)·d^a at steady state (Fan et al. 2025): a common factor on every rung's "
              "λ scales every rung's σ alike and leaves the ratios across widths, which the verdict judges, "
              "unchanged; it shortens the AdamW timescale τ = 1/(η·λ) so that a short run reaches steady state.")


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


def run_verify(loaded, opts: VerifyOptions) -> VerifyReport:
    """Plan, train and judge the ladder. Under torchrun (WORLD_SIZE > 1) every rank returns the same
    report and the process group stays open: the caller writes from rank 0 and then calls
    ``recipec.verify.distributed.teardown()`` (which waits for every rank first)."""
    import torch

    from recipec.verify import distributed
    from recipec.verify.data import BYTE_VOCAB, builtin_corpus, token_file
    from recipec.verify.train import RunSettings, train_rung

    recipe = loaded.recipe
    if opts.size not in recipe.sizes:
        from recipec.transfer import resolve_loaded

        resolve_loaded(loaded, opts.size)  # raises the located "no size named" error
    target_width = (recipe.sizes[opts.size].model.width or recipe.model.width)
    if opts.depth <= 0:
        raise RecipecError(Diagnostic("must be > 0", path="--depth"))
    device = opts.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RecipecError(Diagnostic("CUDA is not available on this machine; use --device cpu", path="--device"))
    on_gpu = device.startswith("cuda")
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

    def cost(rung, steps):
        return ladder.rung_cost(rung, vocab, batch, seq_len, steps, on_gpu, peak, max(2, opts.checkpoints))

    if opts.widths.strip() == "auto" and opts.budget_minutes is not None:
        widths = ladder.plan_auto(loaded, opts.size, opts.depth, recipe.model.width, target_width, cost,
                                  memory_limit, opts.budget_minutes * 60, opts.steps, opts.compression)
    else:
        widths = ladder.parse_widths(opts.widths, recipe.model.width, target_width)
    rungs = ladder.plan(loaded, opts.size, widths, opts.depth)
    steps, factor, chosen, reached = ladder.choose_steps_and_compression(rungs, opts.steps, opts.compression)
    costs = [cost(r, steps) for r in rungs]
    ladder.check_fits(costs, memory_limit, where)

    sampled = steps * batch * (seq_len + 1)  # tokens the run draws
    need = sampled + seq_len + 2
    if opts.data == "builtin":
        corpus = builtin_corpus(min(need, 64 << 20), min_tokens=seq_len + 2)
    else:
        corpus = token_file(opts.data, opts.data_dtype, recipe.model.vocab_size, seq_len + 2)
    passes = sampled / len(corpus.tokens)
    if passes > 1:  # random windows: a short corpus is sampled more than once; say so
        corpus.description += f"; the run samples about {passes:.1f}× its length in random windows"
    n_ck = max(2, opts.checkpoints)
    checkpoints = sorted({max(1, round(steps * i / n_ck)) for i in range(1, n_ck + 1)} | {steps})
    warmup = max(1, round_half_up(opts.warmup_fraction, steps))
    dist = None
    if world > 1:
        dist, device = distributed.setup(device)
    settings = RunSettings(steps=steps, warmup_steps=warmup, batch=batch, seq_len=seq_len, checkpoints=checkpoints,
                           device=device, compression=factor, seed=opts.seed, vocab_size=corpus.vocab_size,
                           progress=opts.progress and (dist is None or dist.primary), micro_batches=micro,
                           compile=opts.compile)

    reports = []
    try:
        for i, (rung, planned) in enumerate(zip(rungs, costs)):
            label = f"rung {i + 1}/{len(rungs)} width {rung.width}"
            try:
                report = train_rung(rung, settings, corpus, recipe, label, dist)
                reports.append(report.model_copy(update={"memory_estimate_bytes": planned.memory_bytes,
                                                         "time_estimate_seconds": planned.seconds}))
            except torch.cuda.OutOfMemoryError:
                total = torch.cuda.get_device_properties(device).total_memory / 2**30
                raise RecipecError(Diagnostic(
                    f"ladder rung width {rung.width} did not fit in GPU memory ({total:.0f} GiB) with batch {batch} × "
                    f"{seq_len} tokens at depth {opts.depth}; lower --batch or --seq-len, or drop that width",
                    path="--widths")) from None
    except BaseException:
        if dist is not None:
            distributed.teardown(wait=False)
        raise

    ref_width = recipe.model.width if recipe.model.width in widths else widths[0]
    ref_index = widths.index(ref_width)
    divergences = [f"width {r.width}: {r.diverged}" for r in reports if r.diverged]
    verdicts = []
    if not divergences:
        present = [k for k in JUDGED_KINDS + REPORTED_KINDS if all(k in r.sigma_curve for r in reports)]
        for kind in present:
            sigma = [_late_mean(r.sigma_curve[kind]) for r in reports]
            flat = [plateaued(r.sigma_curve[kind], opts.tolerance.plateau) for r in reports]
            reference = reports[ref_index].sigma_curve[kind]
            away = [ratio_not_returning(r.sigma_curve[kind], reference, opts.tolerance) for r in reports]
            verdicts.append(judge_kind(kind, widths, sigma, flat, ref_index, opts.tolerance, away))
    kinds = [KindReport(**dataclasses.asdict(v)) for v in verdicts]
    verdict, reasons = overall(verdicts, divergences)
    t = opts.tolerance
    return VerifyReport(
        recipec_version=__version__, recipe_name=recipe.name, recipe_file=loaded.path,
        recipe_sha256=loaded.sha256, size=opts.size, rulesets=[rs.name for rs in rungs[0].resolved.rulesets],
        device=_device_name(device, world), dtype="bf16 autocast" if on_gpu else "fp32", data=corpus.description,
        data_sha256=corpus.sha256, widths=widths, reference_width=ref_width, depth=opts.depth, seq_len=seq_len,
        batch=batch, micro_batches=micro, processes=world, steps=steps, warmup_steps=warmup, seed=opts.seed,
        schedule=f"linear warmup over {warmup} steps, then constant LR",
        compression=Compression(factor=factor, chosen=chosen, timescales_reached=reached, assumption=ASSUMPTION),
        tolerance=Tolerances(slope=t.slope, ratio_low=t.ratio_low, ratio_high=t.ratio_high, plateau=t.plateau),
        rungs=reports, kinds=kinds, verdict=verdict, reasons=reasons,
    )


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
    from recipec.io import write_atomic

    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "verify.json", out / "verify.md"]
    write_atomic(paths[0], json.dumps(report.model_dump(mode="json"), indent=2) + "\n")
    write_atomic(paths[1], markdown(report))
    png = out / "verify.png"
    if plot(report, png):
        paths.append(png)
    return paths


__all__ = ["VerifyOptions", "run_verify", "write_outputs", "terminal"]
