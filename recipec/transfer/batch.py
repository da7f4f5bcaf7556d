"""Sizes, shapes, batch, run length, cluster and schedule at one size: the stages of ``resolve`` that are not
hyperparameters."""

from __future__ import annotations

import difflib
import math
from typing import NamedTuple

from recipec.recipe import Recipe, Size
from recipec.resolved import BatchInfo, ClusterInfo, ScheduleInfo
from recipec.shape import Shape, ShapeError, resolve_shape
from recipec.transfer.context import PROXY, Context, fail


def size_named(ctx: Context, name: str | None) -> Size:
    if name in (None, PROXY):
        return Size()
    try:
        return ctx.recipe.sizes[name]
    except KeyError:
        known = list(ctx.recipe.sizes)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean '{close[0]}'?" if close else ("known: " + ", ".join(known + [PROXY]))
        raise fail(ctx, ("sizes",), f"no size named {name!r}", hint=hint) from None


def shape_at(ctx: Context, name: str | None, size: Size) -> Shape:
    try:
        return resolve_shape(ctx.recipe.model, size.model)
    except ShapeError as e:
        path = ("sizes", name, "model") + e.field if name not in (None, PROXY) else ("model",) + e.field
        raise fail(ctx, path, e.message) from None


def batch_tokens(ctx: Context, name: str | None, size: Size, shape: Shape) -> tuple[int, tuple]:
    r = ctx.recipe
    if size.batch.global_tokens is not None:
        return size.batch.global_tokens, ("sizes", name, "batch", "global_tokens")
    if size.batch.global_sequences is not None:
        return size.batch.global_sequences * shape.seq_len, ("sizes", name, "batch", "global_sequences")
    if r.batch.global_sequences is not None:
        return r.batch.global_sequences * shape.seq_len, ("batch", "global_sequences")
    return r.batch.global_tokens, ("batch", "global_tokens")


def run_tokens(ctx: Context, size: Size, batch_tokens: int, proxy_tokens: int) -> int:
    if size.run.tokens is not None:
        return size.run.tokens
    if size.run.steps is not None:
        return size.run.steps * batch_tokens
    return proxy_tokens  # a size that names no run length trains on as many tokens as the proxy


def cluster_at(ctx: Context, name: str | None, size: Size, shape: Shape) -> tuple[ClusterInfo, int]:
    base = ctx.recipe.cluster.model_dump()
    over = {k: v for k, v in size.cluster.model_dump().items() if v is not None}
    info = ClusterInfo(**{**base, **over})
    model_parallel = info.tensor_parallel * info.pipeline_parallel * info.context_parallel
    if info.world_size % model_parallel:
        path = ("sizes", name, "cluster") if name not in (None, PROXY) and over else ("cluster",)
        raise fail(ctx, path, f"{info.world_size} GPUs do not divide into tensor × pipeline × context parallel "
                              f"= {model_parallel}")
    _check_expert_parallel(ctx, name, info, over, shape)
    return info, info.world_size // model_parallel


def _check_expert_parallel(ctx: Context, name: str | None, info: ClusterInfo, over: dict, shape: Shape) -> None:
    """Expert parallelism splits each block's experts over GPUs taken from the data- and tensor-parallel
    ranks (Megatron: num_experts % expert_model_parallel_size == 0; torchtitan: dp_shard·cp·tp = efsdp·ep)."""
    ep = info.expert_parallel
    if ep == 1:
        return
    path = ("sizes", name, "cluster", "expert_parallel") if name not in (None, PROXY) and "expert_parallel" in over \
        else ("cluster", "expert_parallel")
    if not shape.moe:
        raise fail(ctx, path, f"expert_parallel {ep} needs a mixture of experts (model.moe)")
    if shape.num_experts % ep:
        raise fail(ctx, path, f"{shape.num_experts} experts do not divide over expert_parallel {ep}")
    per_stage = info.world_size // info.pipeline_parallel
    if per_stage % ep:
        raise fail(ctx, path, f"expert_parallel {ep} does not divide the {per_stage} GPUs of a pipeline stage")


class Tokens(NamedTuple):
    """The global batch and the run length in tokens, at the proxy and at the size."""

    proxy_batch: int
    batch: int
    batch_path: tuple  # where the size's batch is set (for errors about it)
    proxy_run: int
    run: int


def tokens(ctx: Context, name: str | None, size: Size, proxy_shape: Shape, shape: Shape) -> Tokens:
    """Batch and run tokens of the proxy and the size; a batch must be a whole number of sequences."""
    r = ctx.recipe
    pb_tokens, _ = batch_tokens(ctx, None, Size(), proxy_shape)
    tb_tokens, tb_path = batch_tokens(ctx, name, size, shape)
    if tb_tokens % shape.seq_len:
        raise fail(ctx, tb_path, f"a global batch of {tb_tokens} tokens is not a whole number of "
                                 f"{shape.seq_len}-token sequences")
    if pb_tokens % proxy_shape.seq_len:
        raise fail(ctx, ("batch", "global_tokens"), f"a global batch of {pb_tokens} tokens is not a whole "
                                                    f"number of {proxy_shape.seq_len}-token sequences")
    p_tokens = r.run.tokens if r.run.tokens is not None else r.run.steps * pb_tokens
    return Tokens(pb_tokens, tb_tokens, tb_path, p_tokens, run_tokens(ctx, size, tb_tokens, p_tokens))


def batch(ctx: Context, name: str | None, size: Size, shape: Shape, tok: Tokens) -> tuple[ClusterInfo, BatchInfo]:
    """The cluster and the batch split into micro batches × data parallel × gradient accumulation."""
    cluster, dp = cluster_at(ctx, name, size, shape)
    micro = size.batch.micro_batch or ctx.recipe.batch.micro_batch
    sequences = tok.batch // shape.seq_len
    per_step = micro * dp
    if sequences % per_step:
        # One check for every consumer (explain, lint, estimate, every compile target): no framework can run
        # a step that is not a whole number of micro batches on every data-parallel rank.
        if size.batch.micro_batch is not None:
            path = ("sizes", name, "batch", "micro_batch")
        elif ctx.smap.has(("batch", "micro_batch")):
            path = ("batch", "micro_batch")
        else:
            path = tok.batch_path
        raise fail(ctx, path, f"a global batch of {sequences} sequences does not divide into micro batches of "
                              f"{micro} on {dp} data-parallel ranks ({per_step} sequences per accumulation step)",
                   hint="make the global batch a multiple of micro_batch × data-parallel size")
    return cluster, BatchInfo(global_tokens=tok.batch, global_sequences=sequences, micro_batch=micro,
                              data_parallel=dp, grad_accum=sequences // per_step)


def round_half_up(fraction: float, steps: int) -> int:
    """``fraction × steps`` to the nearest step, halves up (0.01 × 3250 = 32.5 → 33), computed on the fraction
    as written (its shortest decimal repr), so that no binary rounding of the product decides a half."""
    from decimal import ROUND_HALF_UP, Decimal

    return int((Decimal(repr(float(fraction))) * steps).to_integral_value(rounding=ROUND_HALF_UP))


def schedule(r: Recipe, total_steps: int, batch_tokens: int) -> ScheduleInfo:
    w = r.schedule.warmup
    if w.fraction is not None:
        warmup = round_half_up(w.fraction, total_steps)
    elif w.tokens is not None:
        warmup = math.ceil(w.tokens / batch_tokens)
    else:
        warmup = w.steps
    warmup = min(warmup, total_steps)
    s = r.schedule
    if s.decay == "constant":
        decay = 0
    elif s.decay == "wsd":
        decay = s.decay_steps if s.decay_steps is not None else round_half_up(s.decay_fraction, total_steps)
        decay = min(decay, total_steps - warmup)
    else:
        decay = total_steps - warmup
    return ScheduleInfo(total_steps=total_steps, warmup_steps=warmup, decay=s.decay, decay_steps=decay,
                        min_lr_ratio=s.min_lr_ratio)
