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
from recipec.verify.model import Decoder, ModelConfig, classify, layer_of
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


def model_config(resolved, vocab_size: int, seq_len: int, norm_eps: float, rope_theta: float) -> ModelConfig:
    s, m = resolved.shape, resolved.multipliers
    std = {cls: resolved.classes[cls].init_std.value for cls in ("hidden", "embedding", "output")}
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
        hp = resolved.classes[cls]
        wd = resolved.coupled_weight_decay(cls)
        out[cls] = ClassHyper(lr=hp.lr.value, weight_decay=wd * compression, weight_decay_resolved=wd,
                              eps=hp.eps.value, init_std=hp.init_std.value if hp.init_std else None)
    return out


def param_groups(model: Decoder, hyper: dict[str, ClassHyper], betas) -> list[dict]:
    members: dict[str, list] = {cls: [] for cls in PARAM_CLASSES}
    for name, p in model.named_parameters():
        members[classify(name, p)[0]].append(p)
    groups = []
    for cls in PARAM_CLASSES:
        if members[cls]:
            h = hyper[cls]
            groups.append({"params": members[cls], "lr": h.lr, "weight_decay": h.weight_decay, "eps": h.eps,
                           "betas": tuple(betas), "name": cls})
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

    return Shape(width=cfg.width, depth=cfg.depth, heads=cfg.heads, head_dim=cfg.head_dim, kv_heads=cfg.kv_heads,
                 ffn_hidden=cfg.ffn_hidden, vocab_size=cfg.vocab_size, seq_len=cfg.seq_len,
                 tied_embeddings=cfg.tied_embeddings, norm=cfg.norm, qk_norm=cfg.qk_norm,
                 bias=cfg.bias).flops_per_token()


def train_rung(rung, settings: RunSettings, corpus, recipe, label: str) -> RungReport:
    resolved = rung.resolved
    device = torch.device(settings.device)
    cfg = model_config(resolved, settings.vocab_size, settings.seq_len, recipe.model.norm_eps,
                       recipe.model.rope_theta)
    torch.manual_seed(settings.seed)
    model = Decoder(cfg).to(device)
    forward = torch.compile(model) if settings.compile else model
    hyper = class_hyper(resolved, settings.compression)
    opt_kwargs = {"fused": True} if device.type == "cuda" else {"foreach": True}
    optimizer = torch.optim.AdamW(param_groups(model, hyper, resolved.optimizer.betas), **opt_kwargs)
    warm = max(1, settings.warmup_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warm))
    batches = Batches(corpus, settings.batch, settings.seq_len, settings.seed)
    use_bf16 = device.type == "cuda"
    clip = resolved.optimizer.grad_clip
    z_loss = resolved.optimizer.z_loss

    matrices = [(n, p) for n, p in model.named_parameters() if p.ndim == 2]
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
    started = time.perf_counter()

    def measure(step: int) -> None:
        nonlocal iterations, unconverged
        by_kind: dict[str, list[tuple[int | None, float]]] = {}
        for name, p in matrices:
            res = top_singular_value(p, init=warm_blocks.get(name), seed=settings.seed)
            warm_blocks[name] = res.block
            iterations += res.iterations
            unconverged += 0 if res.converged else 1
            by_kind.setdefault(classify(name, p)[1], []).append((layer_of(name), res.sigma))
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

    measure(0)
    tick = time.perf_counter()
    for step in range(1, settings.steps + 1):
        batch = torch.from_numpy(batches.next()).to(device, non_blocking=True)
        x, y = batch[:, :-1], batch[:, 1:]
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16):
            logits = forward(x)
        logits = logits.float()
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        total = loss + z_loss * torch.logsumexp(logits, dim=-1).pow(2).mean() if z_loss else loss
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip, foreach=True)
        optimizer.step()
        scheduler.step()
        loss_sum += loss.detach()
        loss_count += 1
        if step in checkpoints:
            mean_loss = float(loss_sum) / loss_count  # host sync, checkpoints only
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
                measure(step)
                if any(not math.isfinite(c[-1][1]) for c in sigma_curve.values()):
                    diverged = f"a top singular value became non-finite by step {step}"
            if settings.progress:
                _progress(label, step, settings.steps, mean_loss)
            if diverged is not None:
                break
            tick = time.perf_counter()
    if settings.progress:
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
        tokens_per_second=tps,
        mfu=(tps * flops_tok / peak) if peak else None,
    )


def _progress(label: str, step: int, steps: int, loss: float) -> None:
    filled = int(24 * step / steps)
    bar = "█" * filled + "·" * (24 - filled)
    end = "\r" if sys.stderr.isatty() else "\n"
    sys.stderr.write(f"{label} [{bar}] step {step}/{steps} loss {loss:.4f}{end}")
    sys.stderr.flush()
