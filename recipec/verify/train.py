"""Train one rung of the ladder and measure top singular values at checkpoints.

The step loop keeps everything on the device: the loss is accumulated as a tensor and read back only
at checkpoints (the one host synchronisation), where σ of every matrix is estimated on the device with
warm-started block power iteration.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from recipec.recipe import PARAM_CLASSES
from recipec.verify.data import Batches
from recipec.verify.distributed import Dist, full_matrix, shard
from recipec.verify.factory import ModelSource, layer_index
from recipec.verify.model import ModelConfig, classify
from recipec.verify.report import ClassHyper, RungReport
from recipec.verify.sigma import top_singular_value

PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "B200": 2250e12}


@dataclass
class RunSettings:
    steps: int
    warmup_steps: int
    batch: int
    seq_len: int
    checkpoints: list[int]
    device: str
    compression: float
    seed: int
    vocab_size: int
    progress: bool = True
    compile: bool = False  # torch.compile the model's forward (and backward) graph
    micro_batches: int = 1  # slices of the global batch per step (gradient accumulation); a multiple of world
    source: ModelSource = None  # the model to train (None: the reference decoder)
    reporter: object = None  # progress events (recipec.verify.progress.Progress); None: a plain bar
    timed_steps: int = 4  # steps after the first whose time re-estimates the rung (reporter.measured)


def model_config(resolved, vocab_size: int, seq_len: int, norm_eps: float, rope_theta: float) -> ModelConfig:
    s, m = resolved.shape, resolved.multipliers
    std = {cls: resolved.classes[cls].init_std.value for cls in ("hidden", "embedding", "output")}
    # a matrix kind whose own fan-in ratio gives it another std (the MLP down-projection when the FFN is rounded)
    std.update({k: resolved.kind_coupled(k).init_std for k in resolved.kinds
                if resolved.kinds[k].init_std is not None})
    return ModelConfig(
        width=s.width, depth=s.depth, heads=s.heads, kv_heads=s.kv_heads, head_dim=s.head_dim,
        ffn_hidden=s.ffn_hidden, vocab_size=vocab_size, seq_len=seq_len, tied_embeddings=s.tied_embeddings,
        norm=s.norm, norm_eps=norm_eps, qk_norm=s.qk_norm, bias=s.bias, rope_theta=rope_theta,
        attn_logit_scale=m.attn_logit_scale.value, residual_multiplier=m.residual_multiplier.value,
        embedding_multiplier=m.embedding_multiplier.value, output_multiplier=m.output_multiplier.value,
        init_std=std,
    )


def class_hyper(resolved, compression: float) -> dict[str, ClassHyper]:
    """Per-class AdamW settings in torch's coupled form; λ × the common time-compression factor."""
    out = {}
    for cls in PARAM_CLASSES:
        c = resolved.coupled(cls)
        out[cls] = ClassHyper(lr=c.lr, weight_decay=c.weight_decay * compression, weight_decay_resolved=c.weight_decay,
                              eps=c.eps, init_std=c.init_std)
    return out


def param_groups(model, hyper: dict[str, ClassHyper], betas, resolved=None) -> list[dict]:
    """One AdamW group per class; with ``resolved``, a matrix kind whose numbers differ from its class's
    (``Resolved.kinds``) gets its own group, as the compiled configs give it (λ × the class's compression)."""
    members: dict[str, list] = {}
    for name, p in model.named_parameters():
        cls, kind = classify(name, p)
        own = resolved is not None and kind in resolved.kinds and any(
            getattr(resolved.kinds[kind], hp) is not None for hp in ("lr", "weight_decay", "eps", "init_std"))
        members.setdefault((cls, kind if own else cls), []).append(p)
    groups = []
    for (cls, key), params in sorted(members.items(), key=lambda kv: (PARAM_CLASSES.index(kv[0][0]), kv[0][1])):
        h = hyper[cls]
        lr, wd, eps = h.lr, h.weight_decay, h.eps
        if key != cls:
            k = resolved.kind_coupled(key)
            compression = h.weight_decay / h.weight_decay_resolved if h.weight_decay_resolved else 1.0
            lr, wd, eps = k.lr, k.weight_decay * compression, k.eps
        groups.append({"params": params, "lr": lr, "weight_decay": wd, "eps": eps, "betas": tuple(betas),
                       "name": key})
    return groups


def _device_peak(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, peak in PEAK_BF16_FLOPS.items():
        if key in name:
            return peak
    return None


def flops_per_token(cfg: ModelConfig) -> float:
    """Model FLOPs per trained token (6·N_matmul + attention), counted as for the recipe's own shapes."""
    from recipec.shape import Shape

    return Shape.of(cfg).flops_per_token()


def clip_gradients(params, max_norm: float, dist: Dist | None = None) -> torch.Tensor:
    """``torch.nn.utils.clip_grad_norm_`` (coefficient max_norm / (‖g‖ + 1e-6), at most 1) with the global
    norm summed in float64 from each tensor's (or shard's) own norm. The order of that sum differs between
    one process and N sharded ones; in float64 the difference stays far below one float32 rounding step, so
    both get the same float32 coefficient, bit for bit. No host synchronisation."""
    local = [g.to_local() if hasattr(g, "to_local") else g for g in (p.grad for p in params) if g is not None]
    if not local:
        return torch.zeros(())
    sq = torch.stack([torch.linalg.vector_norm(g, dtype=torch.float64).square() for g in local]).sum()
    if dist is not None:
        dist.all_sum(sq)
    norm = sq.sqrt()
    coef = (max_norm / (norm + 1e-6)).clamp(max=1.0).to(local[0].dtype)
    torch._foreach_mul_(local, coef)
    return norm


def train_rung(rung, settings: RunSettings, corpus, recipe, label: str, dist: Dist | None = None) -> RungReport:
    """Train one rung; with ``dist`` (under torchrun) data-parallel with FSDP2 over ``dist.world`` ranks,
    on the same global batch and data order, and with the same σ values, as one process."""
    resolved = rung.resolved
    device = torch.device(settings.device)
    cfg = model_config(resolved, settings.vocab_size, settings.seq_len, recipe.model.norm_eps,
                       recipe.model.rope_theta)
    torch.manual_seed(settings.seed)
    if device.type == "cuda":  # this rung's own peak (the planner's memory estimate is checked against it)
        torch.cuda.reset_peak_memory_stats(device)
    hyper = class_hyper(resolved, settings.compression)
    built = (settings.source or ModelSource()).build(resolved, cfg, hyper, settings.compression, device)
    model, kind_of = built.module, built.kinds
    if dist is not None:
        shard(model, dist)  # every rank built the same init from the same seed; keep its own shards
    forward = torch.compile(model) if settings.compile else model
    opt_kwargs = {"fused": True} if device.type == "cuda" else {"foreach": True}
    optimizer = torch.optim.AdamW(built.groups, **opt_kwargs)
    warm = max(1, settings.warmup_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warm))
    batches = Batches(corpus, settings.batch, settings.seq_len, settings.seed)
    use_bf16 = pin = device.type == "cuda"
    clip = resolved.optimizer.grad_clip
    z_loss = resolved.optimizer.z_loss

    matrices = [(n, p) for n, p in model.named_parameters() if p.ndim == 2 and n in kind_of]
    params = list(model.parameters())
    warm_blocks: dict[str, torch.Tensor] = {}
    sigma_curve: dict[str, list[tuple[int, float]]] = {}
    per_layer: dict[str, list[float]] = {}
    loss_curve: list[tuple[int, float]] = []
    iterations = unconverged = 0
    diverged = None
    first_loss = None
    loss_sum = torch.zeros((), device=device)
    loss_count = 0
    segments: list[tuple[int, float]] = []  # (steps, seconds) between checkpoints, σ measurement excluded
    last_step = 0
    checkpoints = set(settings.checkpoints)
    world = 1 if dist is None else dist.world
    # Micro batches: equal slices of the global batch whose gradients are summed (scaled by 1/count);
    # under N processes each rank takes micro_batches/N of them and FSDP averages over ranks.
    if settings.micro_batches % world or settings.batch % settings.micro_batches:
        raise ValueError(f"micro_batches {settings.micro_batches} must be a multiple of the {world} processes "
                         f"and divide the batch {settings.batch}")
    local_micro = settings.micro_batches // world
    micro_rows = settings.batch // settings.micro_batches
    started = time.perf_counter()

    def estimates() -> list[tuple[float, int, bool]]:
        """(σ, iterations, converged) of every matrix, in ``matrices`` order."""
        if dist is None:
            out = []
            for name, p in matrices:
                res = top_singular_value(p, init=warm_blocks.get(name), seed=settings.seed)
                warm_blocks[name] = res.block
                out.append((res.sigma, res.iterations, res.converged))
            return out
        # Sharded: gather each whole matrix (a collective on every rank), estimate matrix i on rank
        # i mod world (which keeps its warm block), then share the results; a sum with zeros is exact.
        shared = torch.zeros(len(matrices), 3, dtype=torch.float64, device=dist.device)
        for i, (name, p) in enumerate(matrices):
            with torch.no_grad():
                w = full_matrix(p.detach())
            if i % dist.world == dist.rank:
                res = top_singular_value(w, init=warm_blocks.get(name), seed=settings.seed)
                warm_blocks[name] = res.block
                shared[i, 0], shared[i, 1], shared[i, 2] = res.sigma, res.iterations, float(res.converged)
            del w
        rows = dist.all_sum(shared).tolist()
        return [(s, int(n), bool(c)) for s, n, c in rows]

    def measure(step: int) -> None:
        nonlocal iterations, unconverged
        by_kind: dict[str, list[tuple[int | None, float]]] = {}
        for (name, p), (sigma, its, converged) in zip(matrices, estimates()):
            iterations += its
            unconverged += 0 if converged else 1
            by_kind.setdefault(kind_of[name], []).append((layer_index(name), sigma))
        for kind, values in by_kind.items():
            sigmas = [v for _, v in values]
            sigma_curve.setdefault(kind, []).append((step, sum(sigmas) / len(sigmas)))
            if kind not in ("embedding", "output"):
                layers: dict[int, list[float]] = {}
                for layer, v in values:
                    layers.setdefault(layer, []).append(v)
                per_layer[kind] = [sum(v) / len(v) for _, v in sorted(layers.items())]
            else:
                per_layer[kind] = sigmas

    reporter = settings.reporter if settings.progress else None
    sigma_started = time.perf_counter()
    measure(0)
    sigma_seconds = time.perf_counter() - sigma_started  # a cold start: later checkpoints are warm-started
    sigma_total = sigma_seconds
    tick = time.perf_counter()
    timing = (1, min(settings.steps, 1 + settings.timed_steps))  # (after step, until step): step 1 warms up
    timing_started = reestimate = None
    for step in range(1, settings.steps + 1):
        rows = batches.next()
        if dist is not None:
            rows = dist.local_rows(rows)  # the same global batch as one process, split by rank
        optimizer.zero_grad(set_to_none=True)
        for j in range(local_micro):
            if dist is not None and local_micro > 1:  # reduce-scatter once, after the last micro batch
                model.set_requires_gradient_sync(j == local_micro - 1)
            part = rows[j * micro_rows:(j + 1) * micro_rows] if local_micro > 1 else rows
            batch = torch.from_numpy(part)
            if pin:  # a pinned source lets the copy overlap the previous step's kernels (no host stall)
                batch = batch.pin_memory()
            batch = batch.to(device, non_blocking=True)
            x, y = batch[:, :-1], batch[:, 1:]
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16):
                logits = forward(x)
            logits = logits.float()
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            total = loss + z_loss * torch.logsumexp(logits, dim=-1).pow(2).mean() if z_loss else loss
            del logits  # not kept through backward: the loss keeps what it needs (the peak is at the loss)
            (total / local_micro if local_micro > 1 else total).backward()
            loss_sum += loss.detach()
            loss_count += 1
        if clip:
            clip_gradients(params, clip, dist)
        optimizer.step()
        scheduler.step()
        if step in timing and timing[1] > timing[0]:  # re-estimate the rung from its first timed steps
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if step == timing[0]:
                timing_started = time.perf_counter()
            elif timing_started is not None:
                per_step = (time.perf_counter() - timing_started) / (timing[1] - timing[0])
                # warm-started σ costs about half the cold one at step 0
                reestimate = per_step * settings.steps + sigma_seconds * (1 + 0.5 * len(checkpoints))
                if reporter is not None:
                    reporter.measured(label, per_step, sigma_seconds, reestimate)
        if step in checkpoints:
            if dist is not None:  # the global mean: the mean of the ranks' means over equal shares
                dist.all_sum(loss_sum)
            mean_loss = float(loss_sum) / (loss_count * world)  # host sync, checkpoints only; equal shares
            segments.append((step - last_step, time.perf_counter() - tick))
            last_step = step
            loss_sum.zero_()
            loss_count = 0
            loss_curve.append((step, mean_loss))
            if first_loss is None:
                first_loss = mean_loss
            if not math.isfinite(mean_loss):
                diverged = f"loss became {mean_loss} by step {step}"
            elif step > warm and mean_loss > 1.5 * first_loss:
                diverged = f"loss rose from {first_loss:.3f} to {mean_loss:.3f} by step {step} (diverged)"
            if diverged is None:
                sigma_started = time.perf_counter()
                measure(step)
                sigma_total += time.perf_counter() - sigma_started
                if any(not math.isfinite(c[-1][1]) for c in sigma_curve.values()):
                    diverged = f"a top singular value became non-finite by step {step}"
            if reporter is not None:
                reporter.checkpoint(label, step, settings.steps, mean_loss, time.perf_counter() - started)
            elif settings.progress:
                _progress(label, step, settings.steps, mean_loss)
            if diverged is not None:
                break
            tick = time.perf_counter()
    if settings.progress and reporter is None:
        sys.stderr.write("\n")
    timed = segments[1:] if len(segments) > 1 else segments  # the first segment warms up kernels and caches
    seconds = sum(t for _, t in timed)
    tps = sum(n for n, _ in timed) * settings.batch * settings.seq_len / seconds if seconds > 0 else 0.0
    peak = _device_peak(device)
    flops_tok = flops_per_token(cfg)
    lr_h, wd_h = hyper["hidden"].lr, hyper["hidden"].weight_decay
    return RungReport(
        width=cfg.width, heads=cfg.heads, head_dim=cfg.head_dim, ffn_hidden=cfg.ffn_hidden,
        params=sum(p.numel() for p in model.parameters()),
        hyper=hyper,
        multipliers={"output_multiplier": cfg.output_multiplier, "embedding_multiplier": cfg.embedding_multiplier,
                     "residual_multiplier": cfg.residual_multiplier, "attn_logit_scale": cfg.attn_logit_scale},
        tau_steps=(1 / (lr_h * wd_h)) if wd_h > 0 else None,
        tau_steps_resolved=rung.tau,
        steps=settings.steps,
        final_loss=loss_curve[-1][1] if loss_curve else None,
        loss_curve=loss_curve,
        sigma_curve=sigma_curve,
        sigma_per_layer=per_layer,
        estimator_iterations=iterations,
        estimator_unconverged=unconverged,
        diverged=diverged,
        seconds=time.perf_counter() - started,
        sigma_seconds=sigma_total,
        time_reestimate_seconds=reestimate,
        tokens_per_second=tps,
        mfu=(tps * flops_tok / (peak * world)) if peak else None,
        memory_peak_bytes=float(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None,
    )


def _progress(label: str, step: int, steps: int, loss: float) -> None:
    filled = int(24 * step / steps)
    bar = "█" * filled + "·" * (24 - filled)
    end = "\r" if sys.stderr.isatty() else "\n"
    sys.stderr.write(f"{label} [{bar}] step {step}/{steps} loss {loss:.4f}{end}")
    sys.stderr.flush()
