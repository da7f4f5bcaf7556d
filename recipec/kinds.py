"""Parameter kinds: the matrices and vectors of a LLaMA-style decoder, each with its own fan-in and fan-out.

A recipe writes hyperparameters per *class* (``hidden``, ``embedding``, ``output``, ``vector``); muP
scales each matrix by its *own* fan-in and fan-out ratios (Tensor Programs V Table 3; microsoft/mup's
``infshape``), so recipec resolves every *kind* below. The kinds of one class usually agree; they
differ where a dimension does not follow the width — the MLP down-projection's fan-in is the FFN size,
so when the FFN is rounded or set per size its ratio is not the width ratio (llama-proxy at 1b:
8192/896 = 9.14 where m = 8).

A mixture-of-experts block replaces ``mlp_in``/``mlp_out`` by the routed experts' ``expert_in``/
``expert_out`` (fan-in/fan-out of one expert), the shared experts' ``shared_in``/``shared_out`` and the
``router`` (width → num_experts). The router has a finite fan-out, so it is readout-like and belongs to
class ``output``, as muP prescribes for such a layer (Tensor Programs V §J.1 "output weights"; the
router question in microsoft/mup#48).

Every framework module in ``recipec.frameworks`` maps its parameter names to these kinds by the
model's own structure (module names, declared tied/output embeddings), never by a size coincidence.

Standard library only: lint and compile import it on their start-up path.
"""

from __future__ import annotations

import math
from typing import NamedTuple

# The recipe's parameter classes: what a recipe writes hyperparameters for (``optimizer.per_class``), in order.
PARAM_CLASSES: tuple[str, ...] = ("hidden", "embedding", "output", "vector")
KINDS: tuple[str, ...] = (
    "q", "k", "v", "o", "mlp_in", "mlp_out",  # hidden
    "expert_in", "expert_out", "shared_in", "shared_out",  # hidden, mixture of experts
    "embedding",  # embedding
    "output", "router",  # output
    "norm", "qk_norm", "final_norm", "bias",  # vector
)
KIND_CLASS: dict[str, str] = {
    "q": "hidden", "k": "hidden", "v": "hidden", "o": "hidden", "mlp_in": "hidden", "mlp_out": "hidden",
    "expert_in": "hidden", "expert_out": "hidden", "shared_in": "hidden", "shared_out": "hidden",
    "embedding": "embedding", "output": "output", "router": "output",
    "norm": "vector", "qk_norm": "vector", "final_norm": "vector", "bias": "vector",
}
MOE_KINDS: frozenset[str] = frozenset({"expert_in", "expert_out", "shared_in", "shared_out", "router"})
MATRIX_KINDS: tuple[str, ...] = tuple(k for k in KINDS if KIND_CLASS[k] != "vector")
KIND_DOC: dict[str, str] = {
    "q": "attention query projection (fan-in width, fan-out heads·head_dim)",
    "k": "attention key projection (fan-in width, fan-out kv_heads·head_dim)",
    "v": "attention value projection (fan-in width, fan-out kv_heads·head_dim)",
    "o": "attention output projection (fan-in heads·head_dim, fan-out width); a residual branch output",
    "mlp_in": "MLP gate and up projections (fan-in width, fan-out ffn_hidden)",
    "mlp_out": "MLP down projection (fan-in ffn_hidden, fan-out width); a residual branch output",
    "expert_in": "a routed expert's gate and up projections (fan-in width, fan-out expert_ffn_hidden)",
    "expert_out": "a routed expert's down projection (fan-in expert_ffn_hidden, fan-out width); "
                  "a residual branch output",
    "shared_in": "the shared experts' gate and up projections (fan-in width, fan-out shared_experts·expert_ffn_hidden)",
    "shared_out": "the shared experts' down projection (fan-in shared_experts·expert_ffn_hidden, fan-out width)",
    "embedding": "token embedding table (fan-out width)",
    "output": "readout / lm_head (fan-in width); absent when tied to the embedding",
    "router": "MoE router (fan-in width, fan-out num_experts): readout-like, class output",
    "norm": "the blocks' norm gains (width)",
    "qk_norm": "query/key norm gains (head_dim)",
    "final_norm": "the norm before the readout (width)",
    "bias": "biases of the linear layers",
}
# The kind whose ratios are the class's own: the class value in resolved.json and explain is this kind's.
REPRESENTATIVE: dict[str, str] = {"hidden": "q", "embedding": "embedding", "output": "output", "vector": "norm"}
# The forward multiplier that acts on a kind's output, when a framework cannot apply it and it is
# lowered into the weight (muP form A: init std and LR × c, eps and coupled WD ÷ c).
MULTIPLIER_OF: dict[str, str] = {"output": "output_multiplier", "embedding": "embedding_multiplier",
                                 "o": "residual_multiplier", "mlp_out": "residual_multiplier",
                                 "expert_out": "residual_multiplier", "shared_out": "residual_multiplier",
                                 "router": "router_multiplier"}
# Residual-branch output projections (where a residual multiplier is lowered).
BRANCH_OUT: frozenset[str] = frozenset({"o", "mlp_out", "expert_out", "shared_out"})


class Fans(NamedTuple):
    fan_in: int
    fan_out: int


def fans(kind: str, shape) -> Fans:
    """(fan_in, fan_out) of a kind in ``shape`` (anything with width, heads, head_dim, kv_heads, ffn_hidden,
    vocab_size). Vectors have fan-in 1 and fan-out their length."""
    d, f, v = shape.width, shape.ffn_hidden, shape.vocab_size
    q, kv = shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim
    fe = getattr(shape, "expert_ffn_hidden", 0)
    fs = getattr(shape, "shared_experts", 0) * fe
    table = {
        "q": (d, q), "k": (d, kv), "v": (d, kv), "o": (q, d), "mlp_in": (d, f), "mlp_out": (f, d),
        "expert_in": (d, fe), "expert_out": (fe, d), "shared_in": (d, fs), "shared_out": (fs, d),
        "embedding": (v, d), "output": (d, v), "router": (d, getattr(shape, "num_experts", 0)),
        "norm": (1, d), "qk_norm": (1, shape.head_dim), "final_norm": (1, d), "bias": (1, d),
    }
    return Fans(*table[kind])


def kinds_of(cls: str) -> tuple[str, ...]:
    return tuple(k for k in KINDS if KIND_CLASS[k] == cls)


def present(shape) -> tuple[str, ...]:
    """The kinds a model of ``shape`` has (no readout when tied, no biases without bias, …)."""
    out = ["q", "k", "v", "o"]
    if getattr(shape, "num_experts", 0):
        out += ["expert_in", "expert_out"]
        if getattr(shape, "shared_experts", 0):
            out += ["shared_in", "shared_out"]
    else:
        out += ["mlp_in", "mlp_out"]
    out.append("embedding")
    if not shape.tied_embeddings:
        out.append("output")
    if getattr(shape, "num_experts", 0):
        out.append("router")
    if shape.norm != "none":
        out.append("norm")
        if shape.qk_norm:
            out.append("qk_norm")
        out.append("final_norm")
    if shape.bias:
        out.append("bias")
    return tuple(out)


def matrix_rows_cols(kind: str, shape) -> tuple[int, int]:
    """(rows, cols) of a kind's weight as torch stores it: ``[fan_out, fan_in]`` for a linear layer, and
    ``[vocab, width]`` for the embedding table (an ``nn.Embedding``); one expert's matrix for the experts."""
    f = fans(kind, shape)
    return (f.fan_in, f.fan_out) if kind == "embedding" else (f.fan_out, f.fan_in)


def muon_scale(kind: str, shape, adjust_lr: str) -> float:
    """Muon's own per-matrix LR factor s for a kind (torch.optim.Muon ``_adjust_lr``, A rows, B cols):
    ``original`` (Keller Jordan's reference) √max(1, A/B); ``match_rms_adamw`` (Moonlight) 0.2·√max(A, B)."""
    a, b = matrix_rows_cols(kind, shape)
    if adjust_lr == "match_rms_adamw":
        return 0.2 * math.sqrt(max(a, b))
    return math.sqrt(max(1.0, a / b))


def spectral_target(kind: str, shape, adjust_lr: str) -> float:
    """√(fan_out/fan_in) / s: the base LR that makes Muon's update spectral norm η·s follow the spectral
    condition ‖ΔW‖ ∝ √(fan_out/fan_in) (Yang, Simon & Bernstein 2023), up to a constant; its ratio between
    two sizes is a Muon rule's ``spectral`` ratio."""
    f = fans(kind, shape)
    return math.sqrt(f.fan_out / f.fan_in) / muon_scale(kind, shape, adjust_lr)
