"""The verify report: pydantic models (their JSON Schema is committed as schemas/verify-report.schema.json).
The terminal and Markdown text are in ``recipec.verify.report_text``, the PNG in ``recipec.verify.report_plot``.
No torch here.
"""

from __future__ import annotations

from pathlib import Path
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


class KindHyper(_M):
    """What trains one parameter kind at a rung: its optimizer and that optimizer's numbers, in torch's form."""
    optimizer: Literal["adamw", "muon"]  # torch.optim.AdamW (the recipe's main optimizer) or torch.optim.Muon
    lr: float
    weight_decay: float  # coupled (torch AdamW and Muon: w -= lr·wd·w), after time compression
    weight_decay_resolved: float  # coupled, as the recipe resolves it at this width
    eps: float  # AdamW's eps, or Muon's Newton–Schulz eps
    init_std: float | None
    momentum: float | None = None  # Muon only (AdamW's betas are the recipe's)
    nesterov: bool | None = None
    ns_steps: int | None = None
    adjust_lr: Literal["original", "match_rms_adamw"] | None = None  # torch.optim.Muon adjust_lr_fn


class RungReport(_M):
    width: int
    heads: int
    head_dim: int
    ffn_hidden: int
    params: int
    hyper: dict[str, ClassHyper]
    multipliers: dict[str, float]
    # timescale 1/(η·λ) of the hidden matrices (their Muon kinds' slowest when Muon trains them), after compression
    tau_steps: float | None
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
    kind_hyper: dict[str, KindHyper] | None = None  # every kind present -> its optimizer and numbers
    aux_loss: float | None = None  # mixture of experts: the load-balancing loss (× coeff) at the last checkpoint


class KindReport(_M):  # the verdict on one kind's σ across the ladder (recipec.verify.verdict.judge_kind)
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


class Tolerances(_M):  # what the σ verdict allows (recipec.verify.verdict); defaults: DEFAULT_TOLERANCES
    model_config = ConfigDict(extra="forbid", frozen=True)

    slope: float  # |slope of log σ against log width|
    ratio_low: float  # every rung's σ ratio to the reference rung within [ratio_low, ratio_high]
    ratio_high: float
    plateau: float  # relative drift of σ over the last 40% of a run (linear fit) that still counts as flat


# the CLI's defaults (--max-slope, --ratio-range, --plateau); no defaults in the model keeps every field
# required in the report's schema
DEFAULT_TOLERANCES = Tolerances(slope=0.1, ratio_low=0.8, ratio_high=1.25, plateau=0.1)


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
    from recipec.io import write_atomic

    write_atomic(path, text)
    make_public(path)


def make_public(path) -> None:
    """Give a written file 0666 less the umask, like any other output."""
    import os

    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def write_outputs(report: VerifyReport, out: Path) -> list[Path]:
    """verify.json, verify.md and (with matplotlib) verify.png, 0666 less the umask like other outputs."""
    import json

    from recipec.verify.report_plot import plot
    from recipec.verify.report_text import markdown

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
    import json

    from recipec.verify.report_plot import plot_coord
    from recipec.verify.report_text import coord_markdown

    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "coord.json", out / "coord.md"]
    write_public(paths[0], json.dumps(coord.model_dump(mode="json"), indent=2) + "\n")
    write_public(paths[1], coord_markdown(coord, heading="#") + f"\n{title}\n")
    png = out / "coord.png"
    if plot_coord(coord, png, title):
        paths.append(png)
    return paths
