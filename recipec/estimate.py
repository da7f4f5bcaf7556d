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
measured peak of real training steps on a CPU (dense AdamW models).

Muon and mixtures of experts (our own estimates: no measurement or document backs these figures):

* optimizer states: AdamW/Adam keeps two fp32 moments (8 bytes a parameter), Muon one fp32 momentum
  buffer (4 bytes) for the kinds it trains (torch.optim.Muon's ``momentum_buffer``);
* expert parallelism ``e`` (``cluster.expert_parallel``): the routed experts of a block are split over
  ``e`` GPUs of a pipeline stage, not over tensor parallel (torchtitan's layout: EP borrows ranks from data
  and tensor parallel, ``dp_shard·cp·tp = efsdp·ep``), and their weights, gradients and optimizer states
  are sharded over the expert-data-parallel group of (GPUs / p) / e ranks; everything else (attention,
  shared experts, router, embeddings) is sharded as a dense model's. ``e`` must divide the experts and
  the GPUs of a stage, as recipec's resolver requires;
* activations of a MoE block per token: k·(2h + 4f_e) for the k routed copies (the dispatched input, the
  SwiGLU gate, up, activation and product, the expert output kept for the weighted combine), 4·f_s for
  the shared experts, 2E for the router's logits and probabilities, in place of a dense MLP's 4f;
* all-to-all volume per GPU and step (token-choice routing with balanced load, no token dropped):
  dispatch and combine each send T·k·h·b·(e−1)/e bytes off the GPU, forward and backward, so
  4·T·k·h·b·(e−1)/e per MoE layer and micro batch, T = micro_batch·seq_len/(c·t) tokens on the GPU,
  b bytes an element; times the MoE layers of a stage and the accumulation steps. Activation
  recompute adds another forward pair; imbalance raises the busiest GPU's share.

Over 300 lines on purpose: the memory model below is one formula, term by term, with its text and JSON report.
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
class MoEEstimate:
    """A mixture of experts under expert parallelism (module docstring: our own estimate)."""

    num_experts: int
    top_k: int
    expert_parallel: int
    expert_data_parallel: int  # (GPUs / pipeline) / expert_parallel: what the experts' states are sharded over
    experts_per_gpu: int  # routed experts of one block on one GPU
    expert_params: int  # routed experts, every block (all of them, not the active ones)
    active_params: int  # parameters one token uses
    tokens_per_micro_batch: float  # T, on one GPU
    moe_layers_per_gpu: float  # MoE layers of one pipeline stage
    micro_batches: float  # per step on one GPU (the accumulation steps)
    all_to_all_layer_bytes: float  # 4·T·k·h·b·(e−1)/e: one MoE layer, one micro batch, forward + backward
    all_to_all_step_bytes: float  # per step per GPU

    FORMULA = ("all_to_all_bytes_per_step_per_gpu = 4 * T * top_k * width * bytes * (EP - 1) / EP "
               "* moe_layers_per_gpu * micro_batches; T = micro_batch * seq_len / (context_parallel * "
               "tensor_parallel); dispatch + combine, forward + backward, balanced routing (our estimate)")
    MEMORY_FORMULA = ("routed experts' weights, gradients and optimizer states per GPU = bytes * expert_params / "
                      "(EP * pipeline_parallel) / expert_data_parallel (fsdp; zero1: the optimizer states and fp32 "
                      "master only); expert_data_parallel = GPUs / pipeline_parallel / EP; the rest as a dense "
                      "model; optimizer states 8 bytes a parameter for AdamW, 4 for Muon (our estimate)")


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
    muon_params: int = 0  # parameters Muon trains (one momentum buffer each instead of Adam's two moments)
    moe: MoEEstimate | None = None  # mixture of experts: expert parallelism and the all-to-all estimate


def bytes_per_element(precision: str) -> int:
    return 4 if precision == "fp32" else 2


KERNELS = ("fused", "eager")


def _norm_keeps(shape, kernels: str) -> int:
    """Tensors of a norm's input size that a norm site keeps for backward, its output included (read by
    the next matmul): input and output; the normalised input too for PyTorch's composite RMSNorm."""
    if shape.norm == "none":
        return 1  # the matmul's input only
    return 3 if kernels == "eager" and shape.norm == "rmsnorm" else 2


def mlp_activation_elements(shape) -> float:
    """Elements one block's MLP keeps per token: a dense SwiGLU's 4f, or a MoE block's k·(2h + 4f_e) + 4f_s
    + 2E (module docstring; the MoE figure is our estimate)."""
    if not getattr(shape, "num_experts", 0):
        return 4 * shape.ffn_hidden
    h, fe, k = shape.width, shape.expert_ffn_hidden, shape.top_k
    return k * (2 * h + 4 * fe) + 4 * shape.shared_experts * fe + 2 * shape.num_experts


def layer_activation_elements(shape, tokens: float, kernels: str = "fused") -> float:
    """Elements one transformer layer keeps for backward, for ``tokens`` tokens (see the module docstring)."""
    h, q, kv = shape.width, shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim
    keeps = _norm_keeps(shape, kernels)
    attention = 2 * q + 2 * kv + (q if kernels == "eager" else 0)  # q, k, v, output (+ its copy)
    qk_norm = (keeps - 1) * (q + kv) if shape.qk_norm else 0  # its output is rotated, not kept
    per_token = 2 * keeps * h + attention + qk_norm + mlp_activation_elements(shape)
    return per_token * tokens


def kind_params(kind: str, shape) -> int:
    """Parameters of one matrix kind over the whole model (``recipec.kinds``): fan-in × fan-out of one matrix,
    times the matrices of that kind (gate and up; every routed expert; every block)."""
    from recipec.kinds import fans

    f = fans(kind, shape)
    if kind in ("embedding", "output"):
        return f.fan_in * f.fan_out
    per_block = {"mlp_in": 2, "shared_in": 2, "expert_in": 2 * shape.num_experts,
                 "expert_out": shape.num_experts}.get(kind, 1)
    return f.fan_in * f.fan_out * per_block * shape.depth


def expert_params(shape) -> int:
    """The routed experts' parameters, every block (0 for a dense model)."""
    return kind_params("expert_in", shape) + kind_params("expert_out", shape) if shape.moe else 0


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
    ep = resolved.cluster.expert_parallel
    if s.moe and (s.num_experts % ep or (gpus // p) % ep):
        raise RecipecError(Diagnostic(
            f"expert_parallel {ep} must divide the {s.num_experts} experts and the {gpus // p} GPUs of a pipeline "
            f"stage", path="--gpus"))
    edp = (gpus // p) // ep  # expert data parallel (= dp for a dense model)

    # ---- parameters, gradients, optimizer states: dense part over t·p (sharded over dp), routed experts over
    # ep·p (sharded over the expert-data-parallel group)
    n_exp = expert_params(s)
    muon_kinds = set(resolved.muon.kinds) if resolved.muon is not None else set()
    muon_exp = sum(kind_params(k, s) for k in muon_kinds if k in ("expert_in", "expert_out"))
    muon_dense = sum(kind_params(k, s) for k in muon_kinds if k not in ("expert_in", "expert_out"))
    dense_rank, exp_rank = (n - n_exp) / (t * p), n_exp / (ep * p)
    per_rank = dense_rank + exp_rank
    shard = sharding in ("fsdp", "zero1")
    dense_div, exp_div = (dp, edp) if shard else (1, 1)
    master = 4 * dense_rank / dense_div + 4 * exp_rank / exp_div  # fp32 weights, sharded where they are
    if sharding == "fsdp":
        hidden_dense = d.params_by_class["hidden"] - n_exp
        layer_params = (hidden_dense + d.params_by_class["vector"]) / max(1, s.depth) / t + n_exp / max(1, s.depth) / ep
        weights = master + (2 * half * layer_params if mixed else 0)  # + gathered bf16 layers in flight
        gradients = master
    elif sharding == "zero1":
        weights = master + (half * per_rank if mixed else 0)
        gradients = (4 if not mixed else half) * per_rank
    else:
        weights = master + (half * per_rank if mixed else 0)
        gradients = 4 * per_rank
    # AdamW: first and second moments in fp32 (8 bytes); Muon: one fp32 momentum buffer (4 bytes)
    optimizer = (8 * (n - n_exp - muon_dense) + 4 * muon_dense) / (t * p) / dense_div + \
        (8 * (n_exp - muon_exp) + 4 * muon_exp) / (ep * p) / exp_div

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
    # (torch.optim.Muon has no foreach path: it steps one matrix at a time, so its kinds add no group temporary)
    from recipec.kinds import KIND_CLASS

    adam_groups = {c: v - sum(kind_params(k, s) for k in muon_kinds if KIND_CLASS[k] == c)
                   for c, v in d.params_by_class.items()}
    largest_group = max(adam_groups.values()) / (t * p)
    memory = Memory(weights=weights, gradients=gradients, optimizer=optimizer, activations=activations,
                    activations_checkpointed=checkpointed, logits=logits,
                    optimizer_step=4 * largest_group / (dp if shard else 1) if kernels == "eager" else 0.0,
                    persistent_gradients=sharding == "zero1")
    wall = d.training_flops / (gpus * spec.peak_bf16_tflops * 1e12 * mfu)
    warnings = []
    budget = spec.memory_gib * GIB
    if memory.total > budget:
        if memory.total_checkpointed <= budget:
            warnings.append(f"{memory.total / GIB:.1f} GiB per GPU exceeds the {spec.memory_gib:g} GiB of a "
                            f"{spec.name} without activation checkpointing; with full checkpointing it needs "
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
    moe = None
    if s.moe:
        micro_batches = resolved.batch.global_sequences / (mb * dp)
        tokens_gpu = mb * s.seq_len / (cp * t)
        layer_bytes = 4 * tokens_gpu * s.top_k * s.width * half * (ep - 1) / ep
        moe = MoEEstimate(num_experts=s.num_experts, top_k=s.top_k, expert_parallel=ep, expert_data_parallel=edp,
                          experts_per_gpu=s.num_experts // ep, expert_params=n_exp, active_params=s.active_params(),
                          tokens_per_micro_batch=tokens_gpu, moe_layers_per_gpu=layers_per_stage,
                          micro_batches=micro_batches, all_to_all_layer_bytes=layer_bytes,
                          all_to_all_step_bytes=layer_bytes * layers_per_stage * micro_batches)
    return Estimate(size=resolved.size, gpus=gpus, gpu=spec, tensor_parallel=t, pipeline_parallel=p,
                    context_parallel=cp, data_parallel=dp, sharding=sharding, micro_batch=mb, grad_accum=grad_accum,
                    total_params=n, non_embedding_params=d.non_embedding_params, training_flops=d.training_flops,
                    tokens=d.tokens, tokens_per_param=d.tokens_per_param, mfu=mfu, wall_seconds=wall,
                    memory=memory, kernels=kernels, warnings=tuple(warnings), muon_params=muon_dense + muon_exp,
                    moe=moe)


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
        f"parameters        {e.total_params:,} ({e.non_embedding_params:,} non-embedding)" + (
            f"; {e.moe.active_params:,} active per token (top-{e.moe.top_k} of {e.moe.num_experts} experts)"
            if e.moe is not None else ""),
        f"training          {e.tokens:,} tokens, {e.tokens_per_param:.3g} tokens/param, "
        f"{e.training_flops:.3e} FLOPs",
        f"wall time         {_duration(e.wall_seconds)} at {e.mfu:.0%} MFU "
        f"({e.gpu.peak_bf16_tflops:g} TFLOP/s bf16 peak)",
        "memory per GPU    (GiB)",
        f"  weights           {m.weights / g:9.2f}",
        f"  gradients         {m.gradients / g:9.2f}",
        f"  optimizer states  {m.optimizer / g:9.2f}" + (
            f"   (Muon: one fp32 momentum for {e.muon_params:,} parameters; AdamW: two fp32 moments for the rest)"
            if e.muon_params else ""),
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
    if e.moe is not None:
        x = e.moe
        lines += [
            f"experts           expert parallel {x.expert_parallel} × expert data parallel {x.expert_data_parallel}: "
            f"{x.experts_per_gpu} of {x.num_experts} routed experts per block on a GPU; their weights, gradients "
            f"and optimizer states sharded over {x.expert_data_parallel} (estimate)",
            f"all-to-all        {x.all_to_all_step_bytes / g:.3f} GiB per GPU per step "
            f"(estimate: 4·T·k·h·b·(EP−1)/EP = {x.all_to_all_layer_bytes / 2**20:,.1f} MiB per MoE layer and "
            f"micro batch, T = {x.tokens_per_micro_batch:,.0f} tokens, × {x.moe_layers_per_gpu:g} layers × "
            f"{x.micro_batches:g} micro batches; dispatch + combine, "
            f"forward + backward, balanced routing)",
        ]
    lines += [f"warning: {w}" for w in e.warnings]
    return "\n".join(lines) + "\n"


def to_json(e: Estimate, recipe_name: str) -> dict:
    """The estimate as JSON (``recipec estimate --format json``): bytes, counts, and the MoE figures with the
    formula they come from, marked as an estimate."""
    m = e.memory
    out = {
        "recipe": recipe_name, "size": e.size, "gpus": e.gpus, "gpu": e.gpu.name,
        "parallel": {"tensor": e.tensor_parallel, "pipeline": e.pipeline_parallel, "context": e.context_parallel,
                     "data": e.data_parallel, "sharding": e.sharding},
        "micro_batch": e.micro_batch, "grad_accum": e.grad_accum,
        "params": {"total": e.total_params, "non_embedding": e.non_embedding_params, "muon": e.muon_params},
        "training": {"tokens": e.tokens, "tokens_per_param": e.tokens_per_param, "flops": e.training_flops,
                     "mfu": e.mfu, "wall_seconds": e.wall_seconds},
        "memory_bytes_per_gpu": {
            "weights": m.weights, "gradients": m.gradients, "optimizer": m.optimizer, "activations": m.activations,
            "activations_checkpointed": m.activations_checkpointed, "logits": m.logits,
            "optimizer_step": m.optimizer_step, "peak": m.total, "peak_checkpointed": m.total_checkpointed,
            "peak_at": m.peak_at, "kernels": e.kernels,
        },
        "warnings": list(e.warnings),
    }
    if e.moe is not None:
        x = e.moe
        out["params"]["active_per_token"] = x.active_params
        out["params"]["routed_experts"] = x.expert_params
        out["moe"] = {
            "estimate": True,
            "num_experts": x.num_experts, "top_k": x.top_k, "expert_parallel": x.expert_parallel,
            "expert_data_parallel": x.expert_data_parallel, "experts_per_gpu": x.experts_per_gpu,
            "tokens_per_micro_batch": x.tokens_per_micro_batch, "moe_layers_per_gpu": x.moe_layers_per_gpu,
            "micro_batches": x.micro_batches,
            "all_to_all_bytes_per_layer_micro_batch": x.all_to_all_layer_bytes,
            "all_to_all_bytes_per_step_per_gpu": x.all_to_all_step_bytes,
            "formula": MoEEstimate.FORMULA,
            "memory_formula": MoEEstimate.MEMORY_FORMULA,
        }
    return out
