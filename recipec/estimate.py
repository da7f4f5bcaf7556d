"""Launch estimate (``recipec estimate``): parameters, FLOPs, memory per GPU and wall time. No torch.

Memory per GPU under the recipe's parallelism (tensor t, pipeline p, context c, data d = GPUs / (t·p·c)):

* parameters, gradients and AdamW states, divided by t·p, and by d where they are sharded:
  ``fsdp`` (FSDP2 / ZeRO-3, torchtitan's default) shards all three, ``zero1`` (Megatron's distributed
  optimizer) shards the optimizer states and fp32 master weights, ``none`` shards nothing. Mixed
  precision (bf16/fp16/fp8) keeps fp32 master weights, fp32 gradients and fp32 moments; a bf16
  working copy of the weights is counted where weights are not sharded, and FSDP's gathered bf16
  copy of the layers in flight (current and prefetched) where they are.
* activations of one micro batch, per token and layer, for a pre-norm LLaMA block with a flash-style
  attention kernel (no s² term), as autograd keeps them (``--kernels``):

  - ``fused`` (GPU frameworks: a fused RMSNorm that keeps its input and 1/rms, flash attention whose
    output the projection reads in place): 4h + 2q + 2kv + 4f elements (norm inputs and outputs,
    q/k/v, attention output, the SwiGLU gate, up, activation and product), plus q + kv with qk-norm;
  - ``eager`` (PyTorch's composite RMSNorm, as on a CPU: it keeps its input *and* the normalised
    input; the attention output copied into the projection's layout): 6h + 3q + 2kv + 4f, plus
    2q + 2kv with qk-norm (with LayerNorm, a fused kernel on every device, a norm keeps 2h as in
    ``fused``); the multi-tensor AdamW adds a float32 temporary of its largest parameter group;

  divided by t (sequence parallel) and c; 1F1B keeps min(p, accumulation) micro batches in flight on
  the first stage; the final norm (input and output; three tensors eager) on the last. Full activation
  checkpointing keeps each layer's input (h) plus one layer's activations for the recompute.
* the output logits of one micro batch on the last stage, ÷ t: at the loss's backward three float32
  copies live at once (the log-probabilities kept by the loss, their gradient and the logits' gradient),
  12 bytes a logit whatever the precision; the forward holds no more (logits, the upcast, the
  log-probabilities).

``benchmarks/estimate_memory.py`` and ``tests/test_estimate_memory.py`` check the total against the
measured peak of real training steps on a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

from recipec.diagnostics import Diagnostic, RecipecError
from recipec.hardware import GPUS, Gpu
from recipec.resolved import Resolved

GIB = 2**30


@dataclass(frozen=True)
class Memory:
    """Bytes per GPU. The peak is the larger of two moments: the start of backward (weights, optimizer
    states, every kept activation, the loss's logits, and the gradients only where a framework keeps a
    persistent gradient buffer) and the optimizer step (weights, gradients, states and the step's
    temporaries)."""
    weights: float
    gradients: float
    optimizer: float
    activations: float
    activations_checkpointed: float
    logits: float
    optimizer_step: float = 0.0  # temporaries of the optimizer step (a multi-tensor AdamW's √v)
    persistent_gradients: bool = True  # a gradient buffer alive through backward (Megatron), else set_to_none

    def _moments(self, activations: float) -> tuple[float, float]:
        """What lives beside the weights and optimizer states at the start of backward and at the step."""
        backward = activations + self.logits + (self.gradients if self.persistent_gradients else 0.0)
        return backward, self.gradients + self.optimizer_step

    @property
    def total(self) -> float:
        return self.weights + self.optimizer + max(self._moments(self.activations))

    @property
    def total_checkpointed(self) -> float:
        return self.weights + self.optimizer + max(self._moments(self.activations_checkpointed))

    @property
    def peak_at(self) -> str:
        backward, step = self._moments(self.activations)
        return "optimizer step" if step > backward else "start of backward"


@dataclass(frozen=True)
class Estimate:
    size: str
    gpus: int
    gpu: Gpu
    tensor_parallel: int
    pipeline_parallel: int
    context_parallel: int
    data_parallel: int
    sharding: str
    micro_batch: int
    grad_accum: int | None
    total_params: int
    non_embedding_params: int
    training_flops: float
    tokens: int
    tokens_per_param: float
    mfu: float
    wall_seconds: float
    memory: Memory  # bytes per GPU
    kernels: str  # "fused" or "eager": which activations autograd keeps (module docstring)
    warnings: tuple[str, ...]


def bytes_per_element(precision: str) -> int:
    return 4 if precision == "fp32" else 2


KERNELS = ("fused", "eager")


def _norm_keeps(shape, kernels: str) -> int:
    """Tensors of a norm's input size that a norm site keeps for backward, its output included (read by
    the next matmul): input and output; the normalised input too for PyTorch's composite RMSNorm."""
    if shape.norm == "none":
        return 1  # the matmul's input only
    return 3 if kernels == "eager" and shape.norm == "rmsnorm" else 2


def layer_activation_elements(shape, tokens: float, kernels: str = "fused") -> float:
    """Elements one transformer layer keeps for backward, for ``tokens`` tokens (see the module docstring)."""
    h, q, kv, f = shape.width, shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim, shape.ffn_hidden
    keeps = _norm_keeps(shape, kernels)
    attention = 2 * q + 2 * kv + (q if kernels == "eager" else 0)  # q, k, v, output (+ its copy)
    qk_norm = (keeps - 1) * (q + kv) if shape.qk_norm else 0  # its output is rotated, not kept
    per_token = 2 * keeps * h + attention + qk_norm + 4 * f
    return per_token * tokens


def final_norm_elements(shape, tokens: float, kernels: str = "fused") -> float:
    """Elements the final norm keeps (its input, and its output that the output layer reads)."""
    return _norm_keeps(shape, kernels) * shape.width * tokens


def estimate(resolved: Resolved, gpus: int, gpu: str = "h100", mfu: float = 0.4, sharding: str = "fsdp",
             micro_batch: int | None = None, kernels: str = "fused") -> Estimate:
    if kernels not in KERNELS:
        raise RecipecError(Diagnostic(f"unknown kernels {kernels!r} (known: {', '.join(KERNELS)})", path="--kernels"))
    if gpu not in GPUS:
        raise RecipecError(Diagnostic(f"unknown GPU {gpu!r} (known: {', '.join(GPUS)})", path="--gpu"))
    if not 0 < mfu <= 1:
        raise RecipecError(Diagnostic(f"must be in (0, 1] (got {mfu:g})", path="--mfu"))
    c = resolved.cluster
    t, p, cp = c.tensor_parallel, c.pipeline_parallel, c.context_parallel
    model_parallel = t * p * cp
    if gpus <= 0 or gpus % model_parallel:
        raise RecipecError(Diagnostic(
            f"{gpus} GPUs do not divide into tensor × pipeline × context parallel = {model_parallel}", path="--gpus"))
    dp = gpus // model_parallel
    spec = GPUS[gpu]
    s = resolved.shape
    d = resolved.derived
    n = d.total_params
    mixed = resolved.precision != "fp32"
    half = bytes_per_element(resolved.precision)

    # ---- parameters, gradients, optimizer states
    per_rank = n / (t * p)
    states_div = dp if sharding in ("fsdp", "zero1") else 1
    master = 4 * per_rank  # fp32 weights (the master copy under mixed precision)
    if sharding == "fsdp":
        layer_params = (d.params_by_class["hidden"] + d.params_by_class["vector"]) / max(1, s.depth) / t
        weights = master / dp + (2 * half * layer_params if mixed else 0)  # + gathered bf16 layers in flight
        gradients = 4 * per_rank / dp
    elif sharding == "zero1":
        weights = master / dp + (half * per_rank if mixed else 0)
        gradients = (4 if not mixed else half) * per_rank
    else:
        weights = master + (half * per_rank if mixed else 0)
        gradients = 4 * per_rank
    optimizer = 8 * per_rank / states_div  # AdamW first and second moments in fp32

    # ---- activations (first pipeline stage) and logits (last stage)
    mb = micro_batch or resolved.batch.micro_batch
    tokens = mb * s.seq_len / cp
    layers_per_stage = s.depth / p
    accum = resolved.batch.grad_accum or 1
    in_flight = min(p, accum) if p > 1 else 1
    per_layer = half * layer_activation_elements(s, tokens, kernels) / t
    final = half * final_norm_elements(s, tokens, kernels) / t
    activations = in_flight * layers_per_stage * per_layer + final
    checkpointed = in_flight * layers_per_stage * half * s.width * tokens / t + per_layer + final
    logits = tokens * s.vocab_size / t * 12

    # gradients: FSDP2 and single-process training free them between steps (zero_grad(set_to_none=True),
    # PyTorch's default); Megatron keeps one contiguous buffer. A fused AdamW steps in place; the multi-tensor
    # (foreach) one, PyTorch's default on a CPU, steps one parameter group at a time (recipec's groups are the
    # parameter classes) with one float32 temporary (√v) of the group: the largest group sets the peak.
    largest_group = max(d.params_by_class.values()) / (t * p)
    memory = Memory(weights=weights, gradients=gradients, optimizer=optimizer, activations=activations,
                    activations_checkpointed=checkpointed, logits=logits,
                    optimizer_step=4 * largest_group / states_div if kernels == "eager" else 0.0,
                    persistent_gradients=sharding == "zero1")
    wall = d.training_flops / (gpus * spec.peak_bf16_tflops * 1e12 * mfu)
    warnings = []
    budget = spec.memory_gib * GIB
    if memory.total > budget:
        if memory.total_checkpointed <= budget:
            warnings.append(f"{memory.total / GIB:.1f} GiB per GPU exceeds the {spec.memory_gib:g} GiB of a {spec.name} "
                            f"without activation checkpointing; with full checkpointing it needs "
                            f"{memory.total_checkpointed / GIB:.1f} GiB")
        else:
            warnings.append(f"{memory.total_checkpointed / GIB:.1f} GiB per GPU exceeds the {spec.memory_gib:g} GiB of "
                            f"a {spec.name} even with full activation checkpointing: more GPUs, more tensor or "
                            f"pipeline parallelism, or a smaller micro batch")
    if resolved.batch.global_sequences % (mb * dp):
        warnings.append(f"global batch of {resolved.batch.global_sequences} sequences does not divide into micro "
                        f"batch {mb} × data parallel {dp}")
    grad_accum = resolved.batch.global_sequences // (mb * dp) if resolved.batch.global_sequences % (mb * dp) == 0 \
        else None
    return Estimate(size=resolved.size, gpus=gpus, gpu=spec, tensor_parallel=t, pipeline_parallel=p,
                    context_parallel=cp, data_parallel=dp, sharding=sharding, micro_batch=mb, grad_accum=grad_accum,
                    total_params=n, non_embedding_params=d.non_embedding_params, training_flops=d.training_flops,
                    tokens=d.tokens, tokens_per_param=d.tokens_per_param, mfu=mfu, wall_seconds=wall,
                    memory=memory, kernels=kernels, warnings=tuple(warnings))


def _duration(seconds: float) -> str:
    days, rem = divmod(seconds, 86400)
    hours, rem = divmod(rem, 3600)
    if days >= 1:
        return f"{int(days)} d {hours:.0f} h"
    if hours >= 1:
        return f"{int(hours)} h {rem / 60:.0f} min"
    return f"{rem / 60:.1f} min"


def text(e: Estimate, recipe_name: str) -> str:
    m = e.memory
    g = GIB
    accum = e.grad_accum if e.grad_accum is not None else "(does not divide)"
    lines = [
        f"{recipe_name} → {e.size} on {e.gpus} × {e.gpu.name}: tensor {e.tensor_parallel} × pipeline "
        f"{e.pipeline_parallel} × context {e.context_parallel} × data {e.data_parallel}; sharding {e.sharding}; "
        f"micro batch {e.micro_batch}, accumulation {accum}",
        f"parameters        {e.total_params:,} ({e.non_embedding_params:,} non-embedding)",
        f"training          {e.tokens:,} tokens, {e.tokens_per_param:.3g} tokens/param, {e.training_flops:.3e} FLOPs",
        f"wall time         {_duration(e.wall_seconds)} at {e.mfu:.0%} MFU ({e.gpu.peak_bf16_tflops:g} TFLOP/s bf16 peak)",
        "memory per GPU    (GiB)",
        f"  weights           {m.weights / g:9.2f}",
        f"  gradients         {m.gradients / g:9.2f}",
        f"  optimizer states  {m.optimizer / g:9.2f}",
        f"  activations       {m.activations / g:9.2f}   (full checkpointing: {m.activations_checkpointed / g:.2f}; "
        f"{e.kernels} kernels)",
        f"  output logits     {m.logits / g:9.2f}",
    ]
    if m.optimizer_step:
        lines.append(f"  optimizer step    {m.optimizer_step / g:9.2f}   (temporaries)")
    lines += [
        f"  peak              {m.total / g:9.2f}   (full checkpointing: {m.total_checkpointed / g:.2f}) of "
        f"{e.gpu.memory_gib:g}, at the {m.peak_at}; gradients "
        + ("held through backward" if m.persistent_gradients else "freed between steps"),
    ]
    lines += [f"warning: {w}" for w in e.warnings]
    return "\n".join(lines) + "\n"
