"""Concrete model shapes (heads, head_dim, FFN size…) for the proxy and each size, and parameter counts.

A size inherits what it does not set: head_dim stays fixed (heads grow with width), the
query-per-kv group size stays fixed, and the FFN keeps its ratio to width. A mixture-of-experts model
keeps its number of experts and top-k unless the size sets them, and each expert's MLP keeps its ratio
to width like the dense FFN.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from recipec.recipe import MAX_SHAPE, ModelShape, SizeModel, round_up


class ShapeError(ValueError):
    def __init__(self, field: tuple, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


class Shape(BaseModel):
    """One concrete model shape and its parameter and FLOP counts (``recipec.resolved.ShapeInfo`` adds the
    architecture constants a renderer needs, norm ε and rope θ)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    width: int
    depth: int
    heads: int
    head_dim: int
    kv_heads: int
    ffn_hidden: int
    vocab_size: int
    seq_len: int
    tied_embeddings: bool
    norm: str
    qk_norm: bool
    bias: bool
    # mixture of experts (num_experts 0: a dense MLP in every block)
    num_experts: int = 0
    top_k: int = 0
    expert_ffn_hidden: int = 0
    shared_experts: int = 0

    @classmethod
    def of(cls, obj, **changes) -> Shape:
        """A Shape from anything with the same field names (ShapeInfo, verify's ModelConfig), with changes."""
        return cls(**{name: changes[name] if name in changes else getattr(obj, name)
                      for name, f in Shape.model_fields.items()
                      if name in changes or hasattr(obj, name) or f.is_required()})

    @property
    def moe(self) -> bool:
        return self.num_experts > 0

    @property
    def shared_ffn_hidden(self) -> int:
        """Hidden size of the shared experts taken together (one SwiGLU MLP of shared_experts × expert size)."""
        return self.shared_experts * self.expert_ffn_hidden

    def mlp_params(self, active: bool = False) -> int:
        """One block's MLP: the dense SwiGLU, or the experts (all, or the top-k a token uses) and shared experts."""
        d = self.width
        if not self.moe:
            return 3 * d * self.ffn_hidden
        experts = self.top_k if active else self.num_experts
        return 3 * d * self.expert_ffn_hidden * (experts + self.shared_experts)

    def router_params(self) -> int:
        return self.depth * self.width * self.num_experts if self.moe else 0

    # ---- parameter counts by class (LLaMA-style decoder, SwiGLU MLP, pre-norm)
    @property
    def attn_q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def attn_kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    def hidden_params(self) -> int:
        d, q, kv = self.width, self.attn_q_dim, self.attn_kv_dim
        per_layer = d * q + 2 * d * kv + q * d + self.mlp_params()
        return self.depth * per_layer

    def active_hidden_params(self) -> int:
        """Hidden parameters one token passes through (the top-k routed experts, not all of them)."""
        d, q, kv = self.width, self.attn_q_dim, self.attn_kv_dim
        return self.depth * (d * q + 2 * d * kv + q * d + self.mlp_params(active=True))

    def embedding_params(self) -> int:
        return self.vocab_size * self.width

    def output_params(self) -> int:
        """The readout, plus the MoE routers (readout-like: a finite fan-out, class ``output``)."""
        return (0 if self.tied_embeddings else self.vocab_size * self.width) + self.router_params()

    def vector_params(self) -> int:
        d = self.width
        norms_per_layer = 0 if self.norm == "none" else 2 * d * (2 if self.norm == "layernorm" else 1)
        if self.qk_norm:
            norms_per_layer += 2 * self.head_dim * (2 if self.norm == "layernorm" else 1)
        biases_per_layer = (self.attn_q_dim + 2 * self.attn_kv_dim + d + 2 * self.ffn_hidden + d) if self.bias else 0
        final = 0 if self.norm == "none" else d * (2 if self.norm == "layernorm" else 1)
        return self.depth * (norms_per_layer + biases_per_layer) + final

    def params_by_class(self) -> dict[str, int]:
        """Parameters of each recipe class (the optimizer's parameter groups)."""
        return {"hidden": self.hidden_params(), "embedding": self.embedding_params(),
                "output": self.output_params(), "vector": self.vector_params()}

    def total_params(self) -> int:
        return self.hidden_params() + self.embedding_params() + self.output_params() + self.vector_params()

    def active_params(self) -> int:
        """Parameters one token uses: the total less the routed experts it is not sent to."""
        return self.total_params() - (self.hidden_params() - self.active_hidden_params())

    def non_embedding_params(self) -> int:
        """Parameters excluding the token embedding and the output matrix (Kaplan et al.'s N)."""
        return self.hidden_params() + self.vector_params()

    def flops_per_token(self) -> float:
        """Training FLOPs per token: 6·N_matmul plus attention (PaLM appendix B, non-causal count).

        N_matmul counts every weight used in a matrix multiply: hidden matrices and the output
        projection (the tied embedding counts once, as the readout); the embedding lookup is free. In a
        mixture of experts a token multiplies by its top-k experts, the shared experts and the router.
        """
        n_matmul = self.active_hidden_params() + self.router_params() + self.vocab_size * self.width
        attention = 12 * self.depth * self.attn_q_dim * self.seq_len
        return 6.0 * n_matmul + attention


def resolve_shape(proxy: ModelShape, size: SizeModel | None = None) -> Shape:
    size = size or SizeModel()
    width = size.width or proxy.width
    depth = size.depth or proxy.depth

    proxy_head_dim = proxy.head_dim if proxy.head_dim is not None else proxy.width // max(proxy.heads or 1, 1)
    if proxy.heads is not None and proxy.width % proxy.heads:
        raise ShapeError(("heads",), f"width {proxy.width} is not divisible by heads {proxy.heads}")
    if proxy.head_dim is not None and proxy.width % proxy.head_dim:
        raise ShapeError(("width",), f"width {proxy.width} is not divisible by head_dim {proxy.head_dim}")
    proxy_heads = proxy.width // proxy_head_dim

    if size.heads is not None and size.head_dim is not None:
        raise ShapeError(("heads",), "give only one of 'heads' or 'head_dim'")
    if size.heads is not None:
        if width % size.heads:
            raise ShapeError(("heads",), f"width {width} is not divisible by heads {size.heads}")
        heads, head_dim = size.heads, width // size.heads
    else:
        head_dim = size.head_dim or proxy_head_dim
        if width % head_dim:
            field = ("head_dim",) if size.head_dim else ("width",)
            raise ShapeError(field, f"width {width} is not divisible by head_dim {head_dim}")
        heads = width // head_dim

    if size.kv_heads is not None:
        kv_heads = size.kv_heads
    elif proxy.kv_heads is None:
        kv_heads = heads
    else:
        if proxy_heads % proxy.kv_heads:
            raise ShapeError(("kv_heads",), f"heads {proxy_heads} is not divisible by kv_heads {proxy.kv_heads}")
        group = proxy_heads // proxy.kv_heads
        if heads % group:
            raise ShapeError(
                ("kv_heads",),
                f"heads {heads} cannot keep the proxy's {group} query heads per kv head; set kv_heads",
            )
        kv_heads = heads // group
    if kv_heads > heads or heads % kv_heads:
        raise ShapeError(("kv_heads",), f"heads {heads} is not divisible by kv_heads {kv_heads}")

    if size.ffn_hidden is not None:
        ffn = size.ffn_hidden
    elif size.ffn_multiplier is not None:
        ffn = round_up(size.ffn_multiplier * width, proxy.ffn_multiple_of)
    elif proxy.ffn_multiplier is not None:
        ffn = round_up(proxy.ffn_multiplier * width, proxy.ffn_multiple_of)
    else:
        assert proxy.ffn_hidden is not None  # guaranteed by the schema
        ffn = (proxy.ffn_hidden if width == proxy.width
               else round_up(proxy.ffn_hidden * width / proxy.width, proxy.ffn_multiple_of))

    if not 1 <= ffn <= MAX_SHAPE:
        field = (("ffn_hidden",)
                 if size.ffn_hidden is not None or (proxy.ffn_hidden is not None and size.ffn_multiplier is None)
                 else ("ffn_multiplier",))
        raise ShapeError(field, f"the MLP hidden size at width {width} would be {ffn}, outside 1 to {MAX_SHAPE}")

    moe = _moe_shape(proxy, size, width)

    return Shape(
        width=width,
        depth=depth,
        heads=heads,
        head_dim=head_dim,
        kv_heads=kv_heads,
        ffn_hidden=ffn,
        vocab_size=proxy.vocab_size,
        seq_len=size.seq_len or proxy.seq_len,
        tied_embeddings=proxy.tied_embeddings,
        norm=proxy.norm,
        qk_norm=proxy.qk_norm,
        bias=proxy.bias,
        **moe,
    )


def _moe_shape(proxy: ModelShape, size: SizeModel, width: int) -> dict[str, int]:
    """num_experts, top_k, expert_ffn_hidden and shared_experts at a size (all 0 for a dense model)."""
    m = proxy.moe
    if m is None:
        for name in ("num_experts", "top_k", "expert_ffn_hidden"):
            if getattr(size, name) is not None:
                raise ShapeError((name,), f"'{name}' is set but the model has no 'moe' section")
        return {}
    experts = size.num_experts or m.num_experts
    top_k = size.top_k or m.top_k
    if top_k > experts:
        field = ("top_k",) if size.top_k is not None else ("num_experts",)
        raise ShapeError(field, f"top_k {top_k} is more than num_experts {experts}")
    proxy_fe = m.expert_ffn_hidden or _proxy_ffn(proxy)
    if size.expert_ffn_hidden is not None:
        fe = size.expert_ffn_hidden
    elif width == proxy.width:
        fe = proxy_fe
    else:
        fe = round_up(proxy_fe * width / proxy.width, proxy.ffn_multiple_of)
    if not 1 <= fe <= MAX_SHAPE:
        raise ShapeError(("expert_ffn_hidden",), f"the expert hidden size at width {width} would be {fe}, "
                                                 f"outside 1 to {MAX_SHAPE}")
    return {"num_experts": experts, "top_k": top_k, "expert_ffn_hidden": fe, "shared_experts": m.shared_experts}


def _proxy_ffn(proxy: ModelShape) -> int:
    if proxy.ffn_hidden is not None:
        return proxy.ffn_hidden
    return round_up(proxy.ffn_multiplier * proxy.width, proxy.ffn_multiple_of)
