"""The numbers a rung's model is built from: :class:`ModelConfig` (the reference decoder's) and
:class:`RungSpec` (what a ``--model`` factory receives: the same, and the proxy's figures and the whole
``Resolved``). Both come from a rung's ``Resolved`` alone. No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from recipec.kinds import KIND_CLASS, KINDS

MATRIX_KINDS = tuple(k for k in KINDS if KIND_CLASS[k] != "vector")


@dataclass(frozen=True)
class ModelConfig:
    """A rung's resolved shape, forward multipliers and init."""

    width: int
    depth: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn_hidden: int
    vocab_size: int
    seq_len: int
    tied_embeddings: bool
    norm: str
    norm_eps: float
    qk_norm: bool
    bias: bool
    rope_theta: float
    attn_logit_scale: float
    residual_multiplier: float
    embedding_multiplier: float
    output_multiplier: float
    init_std: dict[str, float]  # matrix kind (q, …, embedding, output) -> std of its normal init
    # mixture of experts (num_experts 0: a dense SwiGLU MLP in every block); the recipe's model.moe
    num_experts: int = 0
    top_k: int = 0
    expert_ffn_hidden: int = 0
    shared_experts: int = 0
    router_score: str = "softmax"  # softmax | sigmoid
    aux_loss_coeff: float = 0.0
    router_multiplier: float = 1.0  # on the router's logits (Resolved.multipliers.router_multiplier; 1 when unset)

    @property
    def moe(self) -> bool:
        return self.num_experts > 0


@dataclass(frozen=True)
class RungSpec(ModelConfig):
    """What a ``--model`` factory receives: one rung's resolved shape, multipliers and init (a
    :class:`ModelConfig`), with the width ratio to the proxy and the proxy's figures."""

    width_mult: float = 1.0  # m = width / the proxy's width
    proxy_width: int = 0
    proxy_head_dim: int = 0
    base_init_std: float | None = None  # the hidden init std at the proxy (the recipe's init.std)
    resolved: Any = field(repr=False, compare=False, default=None)


def model_config(resolved, vocab_size: int, seq_len: int, moe=None) -> ModelConfig:
    """The reference model's config of a rung: its Resolved shape (``norm_eps`` and ``rope_theta``
    included), multipliers and the init std of every matrix kind (``Resolved.kind_coupled``: its
    class's, or the kind's own where its fan-in ratio gives it another). A mixture-of-experts shape also
    reads ``resolved.moe`` (the router's score function and the auxiliary loss coefficient); ``moe``
    (anything with those two fields) overrides it."""
    s, m = resolved.shape, resolved.multipliers
    routing = {}
    moe = moe if moe is not None else getattr(resolved, "moe", None)
    if s.moe:
        if moe is None:
            raise ValueError("a mixture-of-experts rung needs the recipe's model.moe (router_score, aux_loss_coeff)")
        rm = m.router_multiplier
        routing = {"num_experts": s.num_experts, "top_k": s.top_k, "expert_ffn_hidden": s.expert_ffn_hidden,
                   "shared_experts": s.shared_experts, "router_score": moe.router_score,
                   "aux_loss_coeff": moe.aux_loss_coeff, "router_multiplier": 1.0 if rm is None else rm.value}
    return ModelConfig(**routing,
        width=s.width, depth=s.depth, heads=s.heads, kv_heads=s.kv_heads, head_dim=s.head_dim,
        ffn_hidden=s.ffn_hidden, vocab_size=vocab_size, seq_len=seq_len, tied_embeddings=s.tied_embeddings,
        norm=s.norm, norm_eps=s.norm_eps, qk_norm=s.qk_norm, bias=s.bias, rope_theta=s.rope_theta,
        attn_logit_scale=m.attn_logit_scale.value, residual_multiplier=m.residual_multiplier.value,
        embedding_multiplier=m.embedding_multiplier.value, output_multiplier=m.output_multiplier.value,
        init_std={k: resolved.kind_coupled(k).init_std for k in MATRIX_KINDS},
    )


def rung_spec(resolved, cfg: ModelConfig) -> RungSpec:
    """The spec of a rung from its Resolved and the reference model's config (the same numbers)."""
    import dataclasses

    proxy = resolved.proxy_shape
    base = resolved.classes["hidden"].init_std
    return RungSpec(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(ModelConfig)},
                    width_mult=cfg.width / proxy.width, proxy_width=proxy.width, proxy_head_dim=proxy.head_dim,
                    base_init_std=None if base is None else base.proxy, resolved=resolved)
