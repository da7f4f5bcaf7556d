"""``recipec verify --coord-check``: the early regime, in seconds — muP's coordinate check on any model.

At each of ≥ 4 widths (the recipe resolved at every width, as the ladder does) and for a few seeds,
the model trains for a few steps (default 10) at the rung's resolved LRs, constant (no warmup, no
time compression: the check is about the first updates). Before each update, on that step's batch:

* the RMS of every matrix's module output (forward hooks on its ``nn.Linear``/``nn.Embedding``), per
  kind — the *activation* W_t·x; for the readout, the model's logits (its multiplier included);
* the RMS of the update's contribution ΔW·x = (W_t − W_0)·x on the same input (for the readout: the
  logits minus the logits with the readout weight put back to its init);
* the RMS of the attention logits q·kᵀ·scale of every ``scaled_dot_product_attention`` call (seen
  through a ``TorchFunctionMode``, so a model that imports the function under another name is seen too;
  attention written out by hand is not measured).

``recipec.verify.coord_verdict`` fits log RMS against log width per kind, quantity and step and judges.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from recipec.verify.coord_verdict import COORD_KINDS, CoordTolerance, first_failing, fit_slope, judge, overall
from recipec.verify.factory import ModelSource
from recipec.verify.options import DEFAULT_COORD_SEEDS, DEFAULT_COORD_STEPS


@dataclass
class CoordSettings:
    steps: int = DEFAULT_COORD_STEPS
    seeds: int = DEFAULT_COORD_SEEDS
    batch: int = 8
    seq_len: int = 64
    device: str = "cpu"
    seed: int = 0
    tolerance: CoordTolerance = CoordTolerance()


class _AttentionLogits(TorchFunctionMode):
    """Records the RMS of q·kᵀ·scale (causal part) of every scaled_dot_product_attention call."""

    def __init__(self):
        super().__init__()
        self.values: list[float] = []
        self.scales: list[float] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.scaled_dot_product_attention:
            with torch.no_grad():
                rms, scale = _logit_rms(*args[:3], **{k: v for k, v in kwargs.items() if k in ("is_causal", "scale")})
            self.values.append(rms)
            self.scales.append(scale)
        return func(*args, **kwargs)


def _logit_rms(q, k, v=None, is_causal=False, scale=None) -> tuple[float, float]:
    """(RMS of the causal q·kᵀ·scale logits, the scale SDPA applies)."""
    q, k = q.detach().float(), k.detach().float()
    if k.shape[-3] != q.shape[-3] and q.shape[-3] % k.shape[-3] == 0:  # grouped-query attention
        k = k.repeat_interleave(q.shape[-3] // k.shape[-3], dim=-3)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    logits = (q @ k.transpose(-2, -1)) * scale
    if is_causal:
        t, s = logits.shape[-2:]
        keep = torch.ones(t, s, dtype=torch.bool, device=logits.device).tril()
        logits = logits[..., keep]
    return float(logits.pow(2).mean().sqrt()), scale


def _rms(t: torch.Tensor) -> float:
    return float(t.detach().float().pow(2).mean().sqrt())


def _modules_by_kind(model: nn.Module, kinds: dict[str, str]):
    """(module path, module, kind, weight name) of every matrix of a measured kind (readout excluded)."""
    owner = {}
    for mname, module in model.named_modules():
        for pname, _p in module.named_parameters(recurse=False):
            owner.setdefault(f"{mname}.{pname}" if mname else pname, (mname, module, pname))
    out = []
    for name, kind in kinds.items():
        if kind not in COORD_KINDS or kind == "output" or name not in owner:
            continue
        mname, module, pname = owner[name]
        if pname == "weight" and isinstance(module, (nn.Linear, nn.Embedding)):
            out.append((mname, module, kind, name))
    return out


def _one_run(rung, cfg, hyper, source: ModelSource, batches: list[torch.Tensor], seed: int, device, z_loss: float,
             clip) -> dict[tuple[str, str], list[float]]:
    """Train one (width, seed) for len(batches) steps; {(kind, quantity): [RMS at step 0, 1, …]}."""
    from recipec.verify.model import logits_and_aux
    from recipec.verify.train import Optimizers

    torch.manual_seed(seed)
    built = source.build(rung.resolved, cfg, hyper, 1.0, device)
    model, kinds = built.module, built.kinds
    optimizer = Optimizers(built.groups, device)  # AdamW, and Muon for the kinds the recipe gives it
    params = dict(model.named_parameters())
    readout = next((n for n, k in kinds.items() if k == "output" and params[n].ndim == 2), None)
    tracked = _modules_by_kind(model, kinds)
    initial = {name: params[name].detach().clone() for *_, name in tracked}
    if readout is not None:
        initial[readout] = params[readout].detach().clone()
    record: dict[tuple[str, str], list[list[float]]] = {}
    step_values: dict[tuple[str, str], list[float]] = {}

    active = [True]  # off while the readout's at-init forward runs

    def hook_for(kind, weight_name):
        def hook(module, inputs, output):
            if not active[0]:
                return
            step_values.setdefault((kind, "activation"), []).append(_rms(output))
            with torch.no_grad():
                delta = params[weight_name].detach() - initial[weight_name]
                x = inputs[0]
                upd = F.embedding(x, delta) if isinstance(module, nn.Embedding) else F.linear(x, delta)
                upd = upd * getattr(module, "recipec_multiplier", 1.0)  # a module that scales its own output
            step_values.setdefault((kind, "update"), []).append(_rms(upd))
        return hook

    handles = [module.register_forward_hook(hook_for(kind, name)) for _, module, kind, name in tracked]
    attention = _AttentionLogits()
    try:
        for batch in batches:
            step_values.clear()
            attention.values.clear()
            x, y = batch[:, :-1], batch[:, 1:]
            with attention:
                logits, aux = logits_and_aux(model, model, x)
            if attention.values:
                step_values[("attn_logits", "activation")] = list(attention.values)
                step_values[("attn_logits", "scale")] = list(attention.scales)
            loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))
            if z_loss:
                loss = loss + z_loss * torch.logsumexp(logits.float(), dim=-1).pow(2).mean()
            if aux is not None:  # a mixture of experts' load-balancing loss, trained as the ladder trains it
                loss = loss + aux
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if readout is not None:
                step_values[("output", "activation")] = [_rms(logits)]
                with torch.no_grad():  # the readout's own update, through whatever the forward does with it
                    current = params[readout].detach().clone()
                    params[readout].copy_(initial[readout])
                    active[0] = False
                    at_init = model(x)
                    active[0] = True
                    params[readout].copy_(current)
                step_values[("output", "update")] = [_rms(logits.detach() - at_init)]
            for key, values in step_values.items():
                record.setdefault(key, []).append([v for v in values if math.isfinite(v)] or [math.nan])
            if clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
    finally:
        for h in handles:
            h.remove()
    # per kind and step: the mean over layers
    return {key: [sum(v) / len(v) for v in per_step] for key, per_step in record.items()}


def run_coord_check(loaded, rungs, source: ModelSource, settings: CoordSettings, corpus, progress=None):
    """Measure and judge; returns ``recipec.verify.report.CoordReport``."""
    from recipec.verify.data import Batches
    from recipec.verify.report import CoordFit, CoordKindReport, CoordReport
    from recipec.verify.spec import model_config
    from recipec.verify.train import class_hyper

    device = torch.device(settings.device)
    started = time.perf_counter()
    stream = Batches(corpus, settings.batch, settings.seq_len, settings.seed)
    batches = [torch.from_numpy(stream.next()).to(device) for _ in range(settings.steps + 1)]  # steps 0..T
    widths = [r.width for r in rungs]
    measured: dict[tuple[str, str], list[list[list[float]]]] = {}  # key -> width -> seed -> per-step RMS
    for i, rung in enumerate(rungs):
        cfg = model_config(rung.resolved, corpus.vocab_size, settings.seq_len, rung.moe)
        hyper = class_hyper(rung.resolved, 1.0)
        for s in range(settings.seeds):
            out = _one_run(rung, cfg, hyper, source, batches, settings.seed + s, device,
                           rung.resolved.optimizer.z_loss, rung.resolved.optimizer.grad_clip)
            for key, values in out.items():
                measured.setdefault(key, [[] for _ in rungs])[i].append(values)
        if progress is not None:
            progress(f"coord check width {rung.width} ({i + 1}/{len(rungs)})", time.perf_counter() - started)
    kinds = []
    for kind in COORD_KINDS:
        keys = [q for q in ("activation", "update") if (kind, q) in measured]
        if not keys:
            continue
        series = {}
        for quantity in keys:
            per_width = measured[(kind, quantity)]
            if any(not seeds for seeds in per_width):
                continue
            series[quantity] = [fit_slope(widths, [[run[t] for run in seeds] for seeds in per_width], t,
                                          settings.tolerance.confidence) for t in range(settings.steps + 1)]
        scale = None
        if kind == "attn_logits" and (kind, "scale") in measured:
            used = [seeds[0][0] for seeds in measured[(kind, "scale")]]
            scale = (used, [r.resolved.multipliers.attn_logit_scale.value for r in rungs])
        kinds.append(judge(kind, series, settings.tolerance, scale, widths))
    verdict, reasons = overall(kinds)
    t = settings.tolerance
    return CoordReport(
        model=source.name, widths=widths, head_dims=[r.resolved.shape.head_dim for r in rungs],
        depth=rungs[0].resolved.shape.depth, steps=settings.steps, seeds=settings.seeds, batch=settings.batch,
        seq_len=settings.seq_len, slope_tolerance=t.slope, max_ci=t.max_ci, confidence=t.confidence,
        seconds=time.perf_counter() - started,
        kinds=[CoordKindReport(kind=k.kind, verdict=k.verdict, reasons=k.reasons,
                               series={q: [CoordFit(step=f.step, slope=f.slope, ci_low=_finite(f.ci_low),
                                                    ci_high=_finite(f.ci_high), rms=f.rms) for f in fits]
                                       for q, fits in k.series.items()}, first_fail_step=k.first_fail_step)
               for k in kinds],
        verdict=verdict, reasons=reasons, first_failing=first_failing(kinds),
    )


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None
