"""Parameter kinds: the matrices and vectors of a LLaMA-style decoder, each with its own fan-in and fan-out.

A recipe writes hyperparameters per *class* (``hidden``, ``embedding``, ``output``, ``vector``); muP
scales each matrix by its *own* fan-in and fan-out ratios (Tensor Programs V Table 3; microsoft/mup's
``infshape``), so recipec resolves every *kind* below. The kinds of one class usually agree; they
differ where a dimension does not follow the width — the MLP down-projection's fan-in is the FFN size,
so when the FFN is rounded or set per size its ratio is not the width ratio (llama-proxy at 1b:
8192/896 = 9.14 where m = 8).

Every framework module in ``recipec.frameworks`` maps its parameter names to these kinds by the
model's own structure (module names, declared tied/output embeddings), never by a size coincidence.

Standard library only: lint and compile import it on their start-up path.
"""

from __future__ import annotations

from typing import NamedTuple

# The recipe's parameter classes: what a recipe writes hyperparameters for (``optimizer.per_class``), in order.
PARAM_CLASSES: tuple[str, ...] = ("hidden", "embedding", "output", "vector")
KINDS: tuple[str, ...] = (
    "q", "k", "v", "o", "mlp_in", "mlp_out",  # hidden
    "embedding",  # embedding
    "output",  # output
    "norm", "qk_norm", "final_norm", "bias",  # vector
)
KIND_CLASS: dict[str, str] = {
    "q": "hidden", "k": "hidden", "v": "hidden", "o": "hidden", "mlp_in": "hidden", "mlp_out": "hidden",
    "embedding": "embedding", "output": "output",
    "norm": "vector", "qk_norm": "vector", "final_norm": "vector", "bias": "vector",
}
KIND_DOC: dict[str, str] = {
    "q": "attention query projection (fan-in width, fan-out heads·head_dim)",
    "k": "attention key projection (fan-in width, fan-out kv_heads·head_dim)",
    "v": "attention value projection (fan-in width, fan-out kv_heads·head_dim)",
    "o": "attention output projection (fan-in heads·head_dim, fan-out width); a residual branch output",
    "mlp_in": "MLP gate and up projections (fan-in width, fan-out ffn_hidden)",
    "mlp_out": "MLP down projection (fan-in ffn_hidden, fan-out width); a residual branch output",
    "embedding": "token embedding table (fan-out width)",
    "output": "readout / lm_head (fan-in width); absent when tied to the embedding",
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
                                 "o": "residual_multiplier", "mlp_out": "residual_multiplier"}
# Residual-branch output projections (where a residual multiplier is lowered).
BRANCH_OUT: frozenset[str] = frozenset({"o", "mlp_out"})


class Fans(NamedTuple):
    fan_in: int
    fan_out: int


def fans(kind: str, shape) -> Fans:
    """(fan_in, fan_out) of a kind in ``shape`` (anything with width, heads, head_dim, kv_heads, ffn_hidden,
    vocab_size). Vectors have fan-in 1 and fan-out their length."""
    d, f, v = shape.width, shape.ffn_hidden, shape.vocab_size
    q, kv = shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim
    table = {
        "q": (d, q), "k": (d, kv), "v": (d, kv), "o": (q, d), "mlp_in": (d, f), "mlp_out": (f, d),
        "embedding": (v, d), "output": (d, v),
        "norm": (1, d), "qk_norm": (1, shape.head_dim), "final_norm": (1, d), "bias": (1, d),
    }
    return Fans(*table[kind])


def kinds_of(cls: str) -> tuple[str, ...]:
    return tuple(k for k in KINDS if KIND_CLASS[k] == cls)


def present(shape) -> tuple[str, ...]:
    """The kinds a model of ``shape`` has (no readout when tied, no biases without bias, …)."""
    out = ["q", "k", "v", "o", "mlp_in", "mlp_out", "embedding"]
    if not shape.tied_embeddings:
        out.append("output")
    if shape.norm != "none":
        out.append("norm")
        if shape.qk_norm:
            out.append("qk_norm")
        out.append("final_norm")
    if shape.bias:
        out.append("bias")
    return tuple(out)
