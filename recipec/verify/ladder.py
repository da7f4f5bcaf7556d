"""Plan a width ladder: each rung's hyperparameters come from the same rule engine as ``compile``.

Every rung is the recipe resolved at a size of the rung's width and the ladder's (reduced) depth, so
verify never re-implements a rule. Also picks the run length and the weight-decay time compression
from the resolved AdamW timescales. No torch here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from recipec.diagnostics import RecipecError
from recipec.recipe import Size, SizeModel
from recipec.resolved import Resolved
from recipec.transfer import resolve
from recipec.transfer.engine import load_rulesets
from recipec.verify.options import OptionError, flag

TIMESCALES = 5.0  # "several τ": how many AdamW timescales the slowest rung should see
MIN_STEPS, MAX_STEPS, DEFAULT_STEPS = 200, 1000, 600


@dataclass(frozen=True)
class Rung:
    width: int
    resolved: Resolved
    moe: object = None  # the recipe's model.moe (router score, aux loss coefficient), for the reference model

    @property
    def tau(self) -> float | None:
        """Timescale 1/(η·λ) in steps of the hidden matrices, coupled form, as resolved: the hidden class's
        AdamW one, or when Muon trains hidden kinds the slowest of theirs (w ← w·(1 − η·λ) there too)."""
        return hidden_timescale(self.resolved)


def hidden_timescale(resolved: Resolved) -> float | None:
    """τ = 1/(η·λ) of the hidden matrices as resolved (see ``Rung.tau``); None without weight decay."""
    from recipec.kinds import KIND_CLASS
    from recipec.resolved import adamw_timescale

    muon = [resolved.kind_coupled(name)
            for name, k in resolved.kinds.items() if k.optimizer == "muon" and KIND_CLASS[name] == "hidden"]
    if not muon:
        return resolved.derived.adamw_timescale_steps
    return max((t for t in (adamw_timescale(c.lr, c.weight_decay) for c in muon) if t is not None), default=None)


def auto_widths(proxy_width: int, target_width: int, rungs: int = 4) -> list[int]:
    """Doubling from the proxy towards the target (at most ``rungs`` rungs, never past the target)."""
    if target_width == proxy_width:
        return [proxy_width * 2 ** i for i in range(rungs)]
    up = target_width > proxy_width
    widths, w = [proxy_width], proxy_width
    while len(widths) < rungs:
        w = w * 2 if up else w // 2
        if (up and w > target_width) or (not up and w < target_width) or w < 1:
            break
        widths.append(w)
    if len(widths) == 1:
        widths.append(target_width)
    return sorted(widths)


def parse_widths(text: str, proxy_width: int, target_width: int) -> list[int]:
    if text.strip() == "auto":
        return auto_widths(proxy_width, target_width)
    try:
        widths = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise OptionError("widths", f"expected comma-separated integers or 'auto' (got {text!r})") from None
    if len(widths) < 2 or widths[0] <= 0:
        raise OptionError("widths", "give at least two positive widths")
    return widths


def target_width(loaded, size: str) -> int:
    """The width the ladder runs towards: the size's, else the proxy's."""
    return loaded.recipe.sizes[size].model.width or loaded.recipe.model.width


def plan(loaded, size: str, widths: list[int], depth: int) -> list[Rung]:
    """Resolve the recipe at each rung (width, depth) through the transfer engine."""
    recipe = loaded.recipe
    rulesets = load_rulesets(recipe, _base_dir(loaded), loaded.source_map, loaded.path)
    target = recipe.sizes.get(size)
    sizes = dict(recipe.sizes)
    names = []
    heads = _fixed_heads(recipe, target)
    for w in widths:
        name = f"verify-w{w}"
        base = target.model if target is not None else SizeModel()
        if heads is not None:  # the size keeps the proxy's head count: head_dim grows with width, as it does there
            sizes[name] = Size(model=SizeModel(width=w, depth=depth, heads=heads))
        else:  # keep the size's head_dim (or the proxy's), so heads grow with width
            head_dim = None if base.heads is None and base.head_dim is None else _head_dim(recipe, target)
            sizes[name] = Size(model=SizeModel(width=w, depth=depth, head_dim=head_dim))
        names.append(name)
    ladder_recipe = recipe.model_copy(update={"sizes": sizes})
    rungs = []
    for w, name in zip(widths, names):
        try:
            r = resolve(ladder_recipe, name, file=loaded.path, sha256=loaded.sha256, source_map=loaded.source_map,
                        rulesets=rulesets)
        except RecipecError as e:
            raise OptionError("widths", [f"ladder rung width {w}: {d.message}" for d in e.diagnostics]) from None
        rungs.append(Rung(w, r, recipe.model.moe))
    return rungs


def _fixed_heads(recipe, target) -> int | None:
    """The head count when the size keeps the proxy's heads and changes head_dim (so the rungs do too)."""
    from recipec.shape import resolve_shape

    if target is None or target.model.heads is None:
        return None
    proxy, size = resolve_shape(recipe.model), resolve_shape(recipe.model, target.model)
    return size.heads if size.heads == proxy.heads and size.head_dim != proxy.head_dim else None


def _head_dim(recipe, target) -> int:
    from recipec.shape import resolve_shape

    return resolve_shape(recipe.model, target.model).head_dim


def _base_dir(loaded):
    from pathlib import Path

    return Path(loaded.path).parent if not loaded.path.startswith("<") else None


def choose_steps_and_compression(rungs: list[Rung], steps: int | None, compression: str | float | None
                                 ) -> tuple[int, float, str, float | None]:
    """(steps, λ factor, how it was chosen, timescales the slowest rung sees).

    A common factor c on every rung's λ divides every τ by c; under σ ∝ √(η/λ)·d^a it scales every
    rung's σ by c^-1/2 alike and leaves the ratios across widths — what the verdict judges — unchanged.
    """
    taus = [r.tau for r in rungs if r.tau is not None]
    tau_max = max(taus) if taus else None
    if steps is None:
        if tau_max is None:
            steps = DEFAULT_STEPS
        else:
            steps = int(min(MAX_STEPS, max(MIN_STEPS, math.ceil(TIMESCALES * tau_max))))
    if compression in (None, "auto"):
        factor = 1.0 if tau_max is None else max(1.0, TIMESCALES * tau_max / steps)
        chosen = "auto" if factor > 1 else "none"
    elif compression == "none":
        factor, chosen = 1.0, "none"
    else:
        factor, chosen = float(compression), "user"  # > 0: VerifyOptions checks it
    reached = None if tau_max is None else steps / (tau_max / factor)
    return steps, factor, chosen, reached


# --------------------------------------------------------------------------- cost planning

ASSUMED_GPU_MFU = 0.3  # for time planning only; benchmarks/trainer_bench.py measures the real figure
# (H100, eager, batch 32 × 512, 2026-11-22: 29.7% at width 2048 and 40.4% at 4096; see benchmarks/RESULTS.md)
# Narrow rungs on a GPU are bound by kernel launches and host work, not FLOPs: an eager step of the
# reference model at widths 256–512 and depth 2 took ~11 ms on that H100 whatever its size. A floor per
# step, scaled by depth from that measurement (the launches grow with the layers).
GPU_STEP_FLOOR_PER_LAYER_S = 0.0055
# σ at a checkpoint: a few warm-started block-Krylov iterations per matrix; ~4 ms a matrix on that H100.
GPU_SIGMA_SECONDS_PER_MATRIX = 0.004
ASSUMED_CPU_FLOPS = 1e10  # fp32 matmul rate when none was measured (verify measures it: run._cpu_flops)
# A training step on a CPU reaches only part of the matmul rate (attention, norms, AdamW, autograd) and
# pays a fixed cost per layer (kernel dispatch); σ's block Krylov iterations are small GEMMs and QRs.
# Fitted on 2 shared cores (torch 2.13, widths 32-256, depth 2; benchmarks/RESULTS.md, "CPU time model").
CPU_TRAIN_EFFICIENCY = 0.5
CPU_STEP_OVERHEAD_PER_LAYER_S = 0.004
CPU_SIGMA_ITERATIONS = 6  # average per matrix and checkpoint (warm-started; the first is cold)
CPU_SIGMA_OVERHEAD_PER_ITERATION_S = 0.0004
SIGMA_BLOCK = 16
# Under bf16 autocast the reference model keeps its residual stream and norms in float32 and the linears
# keep bf16 copies: ~1.5x the bf16 count of its activations (not measured on a GPU yet).
AUTOCAST_HEADROOM = 1.5


@dataclass(frozen=True)
class RungCost:
    width: int
    params: int
    memory_bytes: float
    flops_per_step: float
    seconds: float


def _matrix_shapes(s, vocab_size: int) -> list[tuple[int, int]]:
    """Every matrix σ is estimated on (a mixture of experts: the router, each expert's three, the shared's)."""
    q, kv = s.heads * s.head_dim, s.kv_heads * s.head_dim
    block = [(s.width, q), (s.width, kv), (s.width, kv), (q, s.width)]
    if getattr(s, "num_experts", 0):
        fe, fs = s.expert_ffn_hidden, s.shared_experts * s.expert_ffn_hidden
        block += [(s.num_experts, s.width)] + [(s.width, fe), (s.width, fe), (fe, s.width)] * s.num_experts
        block += [(s.width, fs), (s.width, fs), (fs, s.width)] if fs else []
    else:
        block += [(s.width, s.ffn_hidden), (s.width, s.ffn_hidden), (s.ffn_hidden, s.width)]
    return block * s.depth + [(vocab_size, s.width)] * (1 if s.tied_embeddings else 2)


# matrices of a kind per block (gate and up are two mlp_in / expert_in / shared_in matrices)
_PER_BLOCK = {"q": 1, "k": 1, "v": 1, "o": 1, "mlp_in": 2, "mlp_out": 1, "shared_in": 2, "shared_out": 1, "router": 1}


def muon_flops_per_step(resolved) -> float:
    """FLOPs of torch.optim.Muon's Newton–Schulz iterations in one step: per Muon matrix (r ≤ c its sides)
    ns_steps × (X·Xᵀ: 2r²c, A·A: 2r³, B·X: 2r²c). torch runs them in bfloat16 (``_muon.py``)."""
    from recipec.kinds import matrix_rows_cols

    if resolved.muon is None:
        return 0.0
    s, total = resolved.shape, 0.0
    for kind in resolved.muon.kinds:
        count = {"expert_in": 2 * s.num_experts, "expert_out": s.num_experts}.get(kind, _PER_BLOCK.get(kind, 1))
        r, c = sorted(matrix_rows_cols(kind, s))
        total += s.depth * count * resolved.muon.ns_steps * (4 * r * r * c + 2 * r ** 3)
    return total


def cpu_sigma_seconds(s, vocab_size: int, flops: float) -> float:
    """One σ checkpoint on a CPU: every matrix, a few block Krylov iterations (two GEMMs with the
    k-wide block, one with the 2k-wide basis, a QR and a small SVD)."""
    total = 0.0
    for m, n in _matrix_shapes(s, vocab_size):
        k = max(1, min(SIGMA_BLOCK, min(m, n) // 2))
        total += CPU_SIGMA_ITERATIONS * (8 * m * n * k / flops + CPU_SIGMA_OVERHEAD_PER_ITERATION_S)
    return total


def rung_cost(rung: Rung, vocab_size: int, batch: int, seq_len: int, steps: int, on_gpu: bool,
              peak_flops: float | None, checkpoints: int = 0, cpu_flops: float | None = None,
              cpu_step_overhead: float | None = None, cpu_bf16_flops: float | None = None) -> RungCost:
    """Memory and time of a rung of the reference model.

    Memory follows ``recipec.estimate`` with eager kernels (checked against measured CPU peaks by
    ``benchmarks/estimate_memory.py``): float32 weights and AdamW moments, and the larger of the start of
    backward (kept activations, the loss's 12 bytes a logit, under autocast the linears' bf16 weight copies)
    and the optimizer step (gradients; on a CPU the multi-tensor AdamW's temporary of its largest group).
    Time: the steps, at an assumed MFU or the launch floor on a GPU, plus σ at ``checkpoints`` + 1 points;
    on a CPU from ``cpu_flops`` (the matmul rate verify measures before planning) and ``cpu_step_overhead``
    (the fixed cost of a step, measured on a few steps of the narrowest rung), else the constants above.
    Muon's Newton–Schulz iterations (:func:`muon_flops_per_step`, in bfloat16) count at the GPU's rate, and
    on a CPU at ``cpu_bf16_flops`` (measured: a CPU without bfloat16 instructions runs them ~20× slower
    than float32), else the fp32 rate."""
    from recipec.estimate import Memory, final_norm_elements, layer_activation_elements
    from recipec.shape import Shape

    s = rung.resolved.shape
    shape = Shape.of(s, vocab_size=vocab_size, seq_len=seq_len)
    n = shape.total_params()
    tokens = batch * seq_len
    elements = s.depth * layer_activation_elements(shape, tokens, "eager") + final_norm_elements(shape, tokens, "eager")
    if on_gpu:  # bf16 autocast: the linears also keep bf16 copies of their weights; fused AdamW steps in place
        activations, step_temporaries = 2 * elements * AUTOCAST_HEADROOM + 2 * n, 0.0
    else:  # float32; the multi-tensor AdamW's temporary of its largest group (one group per class)
        activations = 4 * elements
        step_temporaries = 4 * max(shape.params_by_class().values())
    memory = Memory(weights=4 * n, gradients=4 * n, optimizer=8 * n, activations=activations,
                    activations_checkpointed=activations, logits=12 * tokens * vocab_size,
                    optimizer_step=step_temporaries, persistent_gradients=False).total
    flops = shape.flops_per_token() * tokens
    muon = muon_flops_per_step(rung.resolved)
    if on_gpu and peak_flops:
        step_seconds = max((flops + muon) / (peak_flops * ASSUMED_GPU_MFU), GPU_STEP_FLOOR_PER_LAYER_S * s.depth)
        matrices = len(_matrix_shapes(s, vocab_size))  # q k v o gate up down (or the experts'); embedding, output
        sigma_seconds = (checkpoints + 1) * matrices * GPU_SIGMA_SECONDS_PER_MATRIX
    else:
        rate = cpu_flops or ASSUMED_CPU_FLOPS
        overhead = CPU_STEP_OVERHEAD_PER_LAYER_S * s.depth if cpu_step_overhead is None else cpu_step_overhead
        step_seconds = flops / (rate * CPU_TRAIN_EFFICIENCY) + overhead + muon / (cpu_bf16_flops or rate)
        sigma_seconds = (checkpoints + 1) * cpu_sigma_seconds(s, vocab_size, rate)
    return RungCost(width=s.width, params=n, memory_bytes=memory, flops_per_step=flops,
                    seconds=steps * step_seconds + sigma_seconds)


def check_fits(costs: list[RungCost], memory_limit: float, where: str) -> None:
    """Refuse, before any training, a rung whose estimated memory exceeds the device's."""
    too_big = [c for c in costs if c.memory_bytes > 0.9 * memory_limit]
    if too_big:
        gib = 2**30
        rows = "; ".join(f"width {c.width} needs about {c.memory_bytes / gib:.1f} GiB" for c in too_big)
        raise OptionError("widths", (
            f"{rows}, more than 90% of the {memory_limit / gib:.0f} GiB of {where}; lower {flag('batch')} or "
            f"{flag('seq_len')}, or drop those widths"))


def plan_auto(loaded, size: str, depth: int, proxy_width: int, target_width: int, cost, memory_limit: float,
              budget_seconds: float | None, steps: int | None, compression) -> list[int]:
    """The widest doubling ladder from the proxy towards the target that fits memory and the time budget."""
    candidates = auto_widths(proxy_width, target_width, rungs=32)
    best = None
    narrowest = None  # (widths, steps, seconds) of the two-rung ladder, for the refusal
    for top in range(2, len(candidates) + 1):
        widths = candidates[:top]
        rungs = plan(loaded, size, widths, depth)
        run_steps = choose_steps_and_compression(rungs, steps, compression)[0]
        costs = [cost(r, run_steps) for r in rungs]
        if narrowest is None:
            narrowest = (widths, run_steps, sum(c.seconds for c in costs))
        if any(c.memory_bytes > 0.9 * memory_limit for c in costs):
            break
        if budget_seconds is not None and sum(c.seconds for c in costs) > budget_seconds:
            break
        best = widths
        if budget_seconds is None and len(widths) >= 4:
            break
    if best is None:
        need = ""
        if narrowest is not None and budget_seconds is not None and narrowest[2] > budget_seconds:
            need = (f" (widths {', '.join(map(str, narrowest[0]))} at {narrowest[1]} steps need about "
                    f"{narrowest[2] / 60:.1f} min against a budget of {budget_seconds / 60:.1f}: "
                    f"{flag('budget_minutes')} "
                    f"{math.ceil(narrowest[2] / 60 * 1.2)} would fit them)")
        raise OptionError("widths", "no ladder of two widths fits the device memory and the budget" + need
                          + f"; raise {flag('budget_minutes')}, lower {flag('batch')}, {flag('seq_len')} or "
                          f"{flag('depth')}")
    return best
