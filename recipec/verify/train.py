"""Train one rung of the ladder and measure top singular values at checkpoints.

The step loop keeps everything on the device: the loss is accumulated as a tensor and read back only
at checkpoints (the one host synchronisation), where σ of every matrix is estimated on the device with
a warm-started block Krylov estimator (``recipec.verify.sigma``).

Stages of :func:`train_rung`: build the model and optimizer (:func:`build_trainer`), a training step
(:func:`train_step`), the σ probe (``recipec.verify.probe.SigmaProbe``), the checkpoint (:meth:`_Loop.checkpoint`), the
report (:func:`_report`).

Over 300 lines on purpose: the named stages of one rung's training (below) stay together.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from recipec.kinds import KIND_CLASS, PARAM_CLASSES, present
from recipec.resolved import adamw_timescale, convert_weight_decay
from recipec.verify.data import Batches
from recipec.verify.distributed import Dist, shard
from recipec.verify.factory import ModelSource
from recipec.verify.model import classify, logits_and_aux
from recipec.verify.options import OptionError
from recipec.verify.probe import SigmaProbe
from recipec.verify.report import ClassHyper, KindHyper, RungReport
from recipec.verify.spec import ModelConfig, model_config


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


def class_hyper(resolved, compression: float) -> dict[str, ClassHyper]:
    """Per-class AdamW settings in torch's coupled form; λ × the common time-compression factor."""
    out = {}
    for cls in PARAM_CLASSES:
        c = resolved.coupled(cls)
        out[cls] = ClassHyper(lr=c.lr, weight_decay=c.weight_decay * compression, weight_decay_resolved=c.weight_decay,
                              eps=c.eps, init_std=c.init_std)
    return out


def kind_hyper(resolved, compression: float) -> dict[str, KindHyper]:
    """Every kind present at this rung: the optimizer that trains it and its numbers in torch's coupled form
    (λ × the common time-compression factor). Muon kinds (``Resolved.kinds[k].optimizer == "muon"``) take
    their own LR and weight decay, converted from ``Resolved.muon.wd_convention``, and Muon's momentum,
    Nesterov flag, Newton–Schulz steps and eps and ``adjust_lr``; the rest are the main optimizer's, trained
    by torch.optim.AdamW as the dense recipes are."""
    out = {}
    for kind in present(resolved.shape):
        k, c = resolved.kinds.get(kind), resolved.kind_coupled(kind)
        if k is not None and k.optimizer == "muon":
            mu = resolved.muon
            wd = convert_weight_decay(k.weight_decay.value, k.lr.value, mu.wd_convention, "coupled")
            out[kind] = KindHyper(optimizer="muon", lr=k.lr.value, weight_decay=wd * compression,
                                  weight_decay_resolved=wd, eps=mu.eps, init_std=c.init_std, momentum=mu.momentum,
                                  nesterov=mu.nesterov, ns_steps=mu.ns_steps, adjust_lr=mu.adjust_lr)
        else:
            out[kind] = KindHyper(optimizer="adamw", lr=c.lr, weight_decay=c.weight_decay * compression,
                                  weight_decay_resolved=c.weight_decay, eps=c.eps, init_std=c.init_std)
    return out


def hidden_timescale(kinds: dict[str, KindHyper], hyper: dict[str, ClassHyper]) -> float | None:
    """τ = 1/(η·λ) of the hidden matrices in steps, λ as the run applies it: the hidden class's (AdamW), or,
    when Muon trains hidden kinds, the slowest of theirs (Muon decays the same way: w ← w·(1 − η·λ))."""
    muon = [adamw_timescale(h.lr, h.weight_decay) for k, h in kinds.items()
            if h.optimizer == "muon" and KIND_CLASS[k] == "hidden"]
    if muon:
        return max((t for t in muon if t is not None), default=None)
    return adamw_timescale(hyper["hidden"].lr, hyper["hidden"].weight_decay)


def muon_group(params: list, h: KindHyper, name: str) -> dict:
    """A torch.optim.Muon parameter group of one kind."""
    return {"params": params, "lr": h.lr, "weight_decay": h.weight_decay, "momentum": h.momentum,
            "nesterov": h.nesterov, "ns_steps": h.ns_steps, "eps": h.eps, "adjust_lr_fn": h.adjust_lr,
            "name": name, "optimizer": "muon"}


def param_groups(model, hyper: dict[str, ClassHyper], betas, resolved=None, compression: float | None = None
                 ) -> list[dict]:
    """One AdamW group per class; with ``resolved``, a matrix kind whose numbers differ from its class's
    (``Resolved.kinds``) gets its own group, as the compiled configs give it (λ × ``compression``, by default
    the class's), and a kind Muon trains its own Muon group (``optimizer: "muon"``; :class:`Optimizers`)."""
    members: dict[str, list] = {}
    for name, p in model.named_parameters():
        cls, kind = classify(name, p)
        own = resolved is not None and kind in resolved.kinds and (resolved.kinds[kind].optimizer == "muon" or any(
            getattr(resolved.kinds[kind], hp) is not None for hp in ("lr", "weight_decay", "eps", "init_std")))
        members.setdefault((cls, kind if own else cls), []).append(p)
    groups = []
    for (cls, key), params in sorted(members.items(), key=lambda kv: (PARAM_CLASSES.index(kv[0][0]), kv[0][1])):
        h = hyper[cls]
        lr, wd, eps = h.lr, h.weight_decay, h.eps
        if key != cls:
            factor = compression if compression is not None else (
                h.weight_decay / h.weight_decay_resolved if h.weight_decay_resolved else 1.0)
            k = kind_hyper(resolved, factor)[key]
            if k.optimizer == "muon":
                groups.append(muon_group(params, k, key))
                continue
            lr, wd, eps = k.lr, k.weight_decay, k.eps
        groups.append({"params": params, "lr": lr, "weight_decay": wd, "eps": eps, "betas": tuple(betas),
                       "name": key, "optimizer": "adamw"})
    return groups


class Optimizers:
    """torch.optim.AdamW over the AdamW groups and torch.optim.Muon over the Muon groups (``optimizer``
    key), zeroed and stepped together; ``schedule`` (a multiplier of the step, as ``LambdaLR`` takes) scales
    both optimizers' LRs alike."""

    def __init__(self, groups: list[dict], device: torch.device, schedule=None):
        adam = [g for g in groups if g.get("optimizer", "adamw") != "muon"]
        muon = [g for g in groups if g.get("optimizer") == "muon"]
        self.parts: list[torch.optim.Optimizer] = []
        if adam:
            self.parts.append(torch.optim.AdamW(adam,
                                                **({"fused": True} if device.type == "cuda" else {"foreach": True})))
        if muon:
            self.parts.append(torch.optim.Muon(muon))
        self.schedulers = [] if schedule is None else [
            torch.optim.lr_scheduler.LambdaLR(o, schedule) for o in self.parts]

    @property
    def param_groups(self) -> list[dict]:
        return [g for o in self.parts for g in o.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for o in self.parts:
            o.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        """One step of every optimizer, then of every LR schedule."""
        for o in self.parts:
            o.step()
        for s in self.schedulers:
            s.step()


def _device_peak(device: torch.device) -> float | None:
    """The dense bf16 peak of a GPU in ``recipec.hardware``'s table; None on a CPU or an unknown GPU."""
    from recipec.hardware import gpu_by_device_name

    gpu = gpu_by_device_name(torch.cuda.get_device_name(device)) if device.type == "cuda" else None
    return None if gpu is None else gpu.peak_bf16_flops


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


@dataclass
class Trainer:
    """What a rung trains: the model (sharded under ``dist``), its forward (compiled or not), the optimizers
    (AdamW, and Muon where the recipe gives it kinds) with their warm-up schedule, the kind of every
    parameter and every kind's optimizer and numbers."""

    cfg: ModelConfig
    hyper: dict[str, ClassHyper]
    kinds: dict[str, KindHyper]
    model: torch.nn.Module
    forward: object
    optimizer: Optimizers
    kind_of: dict[str, str]
    params: list  # every parameter (after sharding), for gradient clipping
    z_loss: float
    clip: float | None  # the resolved grad_clip (None or 0: no clipping)


def build_trainer(rung, settings: RunSettings, device: torch.device, dist: Dist | None = None) -> Trainer:
    """The model stage: build the rung's model from the same seed on every rank, shard it, group it."""
    resolved = rung.resolved
    cfg = model_config(resolved, settings.vocab_size, settings.seq_len, rung.moe)
    torch.manual_seed(settings.seed)
    if device.type == "cuda":  # this rung's own peak (the planner's memory estimate is checked against it)
        torch.cuda.reset_peak_memory_stats(device)
    hyper = class_hyper(resolved, settings.compression)
    built = (settings.source or ModelSource()).build(resolved, cfg, hyper, settings.compression, device)
    model = built.module
    if dist is not None:
        shard(model, dist)  # every rank built the same init from the same seed; keep its own shards
    forward = torch.compile(model) if settings.compile else model
    groups = built.groups
    if dist is not None and any(g.get("optimizer") == "muon" for g in groups):
        raise OptionError("device", "Muon under torchrun is not supported by verify: torch.optim.Muon "
                                    "orthogonalises each whole matrix, and under FSDP2 every rank holds a shard; "
                                    "run the Muon recipe in one process")
    warm = max(1, settings.warmup_steps)
    optimizer = Optimizers(groups, device, lambda s: min(1.0, (s + 1) / warm))
    return Trainer(cfg, hyper, kind_hyper(resolved, settings.compression), model, forward, optimizer, built.kinds,
                   list(model.parameters()), resolved.optimizer.z_loss, resolved.optimizer.grad_clip)


def train_step(t: Trainer, rows, settings: RunSettings, device: torch.device, loss_sum: torch.Tensor,
               dist: Dist | None = None, aux_sum: torch.Tensor | None = None) -> int:
    """The step stage: one optimizer step on a global batch of token rows; adds each micro batch's loss
    to ``loss_sum`` (on the device: no host synchronisation) and returns their count; a mixture of experts'
    load-balancing loss is added to the trained loss (and to ``aux_sum``), not to ``loss_sum``. Micro batches are
    equal slices of the global batch whose gradients are summed (scaled by 1/count); under N processes
    each rank takes micro_batches/N of them (``recipec.verify.device.batching`` checks they divide) and
    FSDP averages over ranks."""
    if dist is not None:
        rows = dist.local_rows(rows)  # the same global batch as one process, split by rank
    local_micro = settings.micro_batches // (1 if dist is None else dist.world)
    micro_rows = settings.batch // settings.micro_batches
    use_bf16 = device.type == "cuda"
    z_loss, clip = t.z_loss, t.clip
    t.optimizer.zero_grad(set_to_none=True)
    for j in range(local_micro):
        if dist is not None and local_micro > 1:  # reduce-scatter once, after the last micro batch
            t.model.set_requires_gradient_sync(j == local_micro - 1)
        part = rows[j * micro_rows:(j + 1) * micro_rows] if local_micro > 1 else rows
        batch = torch.from_numpy(part)
        if use_bf16:  # a pinned source lets the copy overlap the previous step's kernels (no host stall)
            batch = batch.pin_memory()
        batch = batch.to(device, non_blocking=True)
        x, y = batch[:, :-1], batch[:, 1:]
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16):
            logits, aux = logits_and_aux(t.forward, t.model, x)
        logits = logits.float()
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        total = loss + z_loss * torch.logsumexp(logits, dim=-1).pow(2).mean() if z_loss else loss
        if aux is not None:
            total = total + aux.float()
            if aux_sum is not None:
                aux_sum += aux.detach().float()
        del logits  # not kept through backward: the loss keeps what it needs (the peak is at the loss)
        (total / local_micro if local_micro > 1 else total).backward()
        loss_sum += loss.detach()
    if clip:
        clip_gradients(t.params, clip, dist)
    t.optimizer.step()
    return local_micro


class _Loop:
    """The running record of a rung: losses between checkpoints, the loss curve, divergence, timing."""

    def __init__(self, settings: RunSettings, label: str, device: torch.device, dist: Dist | None):
        self.settings, self.label, self.device, self.dist = settings, label, device, dist
        self.world = 1 if dist is None else dist.world
        self.reporter = settings.reporter if settings.progress else None
        self.loss_sum = torch.zeros((), device=device)
        self.aux_sum = torch.zeros((), device=device)  # the load-balancing loss (mixture of experts)
        self.aux_loss: float | None = None  # its mean since the last checkpoint
        self.has_aux = False  # set when the model has one (the same on every rank)
        self.loss_count = 0
        self.loss_curve: list[tuple[int, float]] = []
        self.first_loss: float | None = None
        self.diverged: str | None = None
        self.segments: list[tuple[int, float]] = []  # (steps, seconds) between checkpoints, σ excluded
        self.last_step = 0
        self.started = self.tick = time.perf_counter()
        self.timing = (1, min(settings.steps, 1 + settings.timed_steps))  # (after step, until step): 1 warms up
        self.timing_started: float | None = None
        self.reestimate: float | None = None

    def time_step(self, step: int, sigma_seconds: float) -> None:
        """Re-estimate the rung from its first timed steps (step 1 warms up)."""
        first, last = self.timing
        if step not in self.timing or last <= first:
            return
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        if step == first:
            self.timing_started = time.perf_counter()
        elif self.timing_started is not None:
            per_step = (time.perf_counter() - self.timing_started) / (last - first)
            # warm-started σ costs about half the cold one at step 0
            checkpoints = len(self.settings.checkpoints)
            self.reestimate = per_step * self.settings.steps + sigma_seconds * (1 + 0.5 * checkpoints)
            if self.reporter is not None:
                self.reporter.measured(self.label, per_step, sigma_seconds, self.reestimate)

    def checkpoint(self, step: int, probe: SigmaProbe) -> bool:
        """The checkpoint stage: the mean loss since the last one (the host synchronisation), divergence,
        σ, progress. True when the rung diverged and training stops."""
        if self.dist is not None:  # the global mean: the mean of the ranks' means over equal shares
            self.dist.all_sum(self.loss_sum)
        mean_loss = float(self.loss_sum) / (self.loss_count * self.world)
        if self.has_aux:
            if self.dist is not None:
                self.dist.all_sum(self.aux_sum)
            self.aux_loss = float(self.aux_sum) / (self.loss_count * self.world)
        self.segments.append((step - self.last_step, time.perf_counter() - self.tick))
        self.last_step = step
        self.loss_sum.zero_()
        self.aux_sum.zero_()
        self.loss_count = 0
        self.loss_curve.append((step, mean_loss))
        if self.first_loss is None:
            self.first_loss = mean_loss
        if not math.isfinite(mean_loss):
            self.diverged = f"loss became {mean_loss} by step {step}"
        elif step > max(1, self.settings.warmup_steps) and mean_loss > 1.5 * self.first_loss:
            self.diverged = f"loss rose from {self.first_loss:.3f} to {mean_loss:.3f} by step {step} (diverged)"
        if self.diverged is None:
            probe.measure(step)
            if probe.non_finite():
                self.diverged = f"a top singular value became non-finite by step {step}"
        if self.reporter is not None:
            elapsed = time.perf_counter() - self.started
            self.reporter.checkpoint(self.label, step, self.settings.steps, mean_loss, elapsed)
        elif self.settings.progress:
            _progress(self.label, step, self.settings.steps, mean_loss)
        self.tick = time.perf_counter()
        return self.diverged is not None

    def tokens_per_second(self) -> float:
        timed = self.segments[1:] if len(self.segments) > 1 else self.segments  # the first warms up kernels
        seconds = sum(t for _, t in timed)
        return sum(n for n, _ in timed) * self.settings.batch * self.settings.seq_len / seconds if seconds > 0 else 0.0


def train_rung(rung, settings: RunSettings, corpus, label: str, dist: Dist | None = None) -> RungReport:
    """Train one rung; with ``dist`` (under torchrun) data-parallel with FSDP2 over ``dist.world`` ranks,
    on the same global batch and data order, and with the same σ values, as one process."""
    device = torch.device(settings.device)
    t = build_trainer(rung, settings, device, dist)
    probe = SigmaProbe(t.model, t.kind_of, settings.seed, dist)
    batches = Batches(corpus, settings.batch, settings.seq_len, settings.seed)
    loop = _Loop(settings, label, device, dist)
    loop.has_aux = bool(getattr(t.model, "has_aux_loss", False))
    sigma_seconds = probe.measure(0)  # a cold start: later checkpoints are warm-started
    loop.tick = time.perf_counter()
    checkpoints = set(settings.checkpoints)
    for step in range(1, settings.steps + 1):
        loop.loss_count += train_step(t, batches.next(), settings, device, loop.loss_sum, dist, loop.aux_sum)
        loop.time_step(step, sigma_seconds)
        if step in checkpoints and loop.checkpoint(step, probe):
            break
    if settings.progress and loop.reporter is None:
        sys.stderr.write("\n")
    return _report(rung, settings, t, probe, loop, device)


def _report(rung, settings: RunSettings, t: Trainer, probe: SigmaProbe, loop: _Loop, device) -> RungReport:
    """The rung's report: shape, hyperparameters, curves, timing and throughput."""
    cfg, tps, peak = t.cfg, loop.tokens_per_second(), _device_peak(device)
    multipliers = ("output_multiplier", "embedding_multiplier", "residual_multiplier", "attn_logit_scale")
    return RungReport(
        width=cfg.width, heads=cfg.heads, head_dim=cfg.head_dim, ffn_hidden=cfg.ffn_hidden,
        params=sum(p.numel() for p in t.model.parameters()), hyper=t.hyper,
        multipliers={m: getattr(cfg, m) for m in multipliers},
        tau_steps=hidden_timescale(t.kinds, t.hyper), tau_steps_resolved=rung.tau, steps=settings.steps,
        final_loss=loop.loss_curve[-1][1] if loop.loss_curve else None, loss_curve=loop.loss_curve,
        sigma_curve=probe.curve, sigma_per_layer=probe.per_layer, estimator_iterations=probe.iterations,
        estimator_unconverged=probe.unconverged, diverged=loop.diverged, seconds=time.perf_counter() - loop.started,
        sigma_seconds=probe.seconds, time_reestimate_seconds=loop.reestimate, tokens_per_second=tps,
        mfu=(tps * flops_per_token(cfg) / (peak * loop.world)) if peak else None,
        memory_peak_bytes=float(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None,
        kind_hyper=t.kinds, aux_loss=loop.aux_loss,
    )


def _progress(label: str, step: int, steps: int, loss: float) -> None:
    filled = int(24 * step / steps)
    bar = "█" * filled + "·" * (24 - filled)
    end = "\r" if sys.stderr.isatty() else "\n"
    sys.stderr.write(f"{label} [{bar}] step {step}/{steps} loss {loss:.4f}{end}")
    sys.stderr.flush()
