"""The reference model: a LLaMA-style decoder whose multipliers and init come from a resolved recipe.

Pre-norm blocks (RMSNorm or LayerNorm), rotary position embeddings, SwiGLU MLP, optional grouped-query
attention and qk-norm, tied or untied embeddings, scaled dot-product attention with the resolved
attention logit scale, residual branches scaled by the resolved residual multiplier, embeddings and
logits scaled by the resolved embedding and output multipliers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from recipec.verify.spec import ModelConfig

# Parameter class of every weight, by the module attribute that owns it (see ``parameter_classes``).
HIDDEN_KINDS = ("q", "k", "v", "o", "mlp_in", "mlp_out")


def _norm(kind: str, dim: int, eps: float) -> nn.Module:
    if kind == "rmsnorm":
        return nn.RMSNorm(dim, eps=eps)
    if kind == "layernorm":
        return nn.LayerNorm(dim, eps=eps)
    return nn.Identity()


def rope_tables(seq_len: int, head_dim: int, theta: float, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    t = torch.arange(seq_len, device=device, dtype=torch.float32)
    freqs = torch.outer(t, inv)
    return freqs.cos(), freqs.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    # x: (batch, heads, seq, head_dim); rotate pairs (even, odd)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    c, s = cos[: x.shape[-2]].to(x.dtype), sin[: x.shape[-2]].to(x.dtype)
    out = torch.stack((x1 * c - x2 * s, x1 * s + x2 * c), dim=-1)
    return out.flatten(-2)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.q = nn.Linear(cfg.width, cfg.heads * cfg.head_dim, bias=cfg.bias)
        self.k = nn.Linear(cfg.width, cfg.kv_heads * cfg.head_dim, bias=cfg.bias)
        self.v = nn.Linear(cfg.width, cfg.kv_heads * cfg.head_dim, bias=cfg.bias)
        self.o = nn.Linear(cfg.heads * cfg.head_dim, cfg.width, bias=cfg.bias)
        self.q_norm = _norm(cfg.norm, cfg.head_dim, cfg.norm_eps) if cfg.qk_norm else nn.Identity()
        self.k_norm = _norm(cfg.norm, cfg.head_dim, cfg.norm_eps) if cfg.qk_norm else nn.Identity()

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        c = self.cfg
        q = self.q(x).view(b, t, c.heads, c.head_dim)
        k = self.k(x).view(b, t, c.kv_heads, c.head_dim)
        if c.qk_norm:  # under bf16 autocast: normalise in float32, the norm weight's dtype (fused kernel)
            q, k = self.q_norm(q.float()), self.k_norm(k.float())
        v = self.v(x).view(b, t, c.kv_heads, c.head_dim).transpose(1, 2)
        # SDPA needs one dtype: back to the projections' (bf16 under autocast; a no-op in float32)
        q = apply_rope(q.transpose(1, 2), cos, sin).to(v.dtype)
        k = apply_rope(k.transpose(1, 2), cos, sin).to(v.dtype)
        if c.kv_heads != c.heads:
            repeat = c.heads // c.kv_heads
            k = k.repeat_interleave(repeat, dim=1)
            v = v.repeat_interleave(repeat, dim=1)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=c.attn_logit_scale)
        return self.o(y.transpose(1, 2).reshape(b, t, c.heads * c.head_dim))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.gate = nn.Linear(cfg.width, cfg.ffn_hidden, bias=cfg.bias)
        self.up = nn.Linear(cfg.width, cfg.ffn_hidden, bias=cfg.bias)
        self.down = nn.Linear(cfg.ffn_hidden, cfg.width, bias=cfg.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.residual_multiplier = cfg.residual_multiplier
        self.attn_norm = _norm(cfg.norm, cfg.width, cfg.norm_eps)
        self.attn = Attention(cfg)
        self.mlp_norm = _norm(cfg.norm, cfg.width, cfg.norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x, cos, sin):
        x = x + self.residual_multiplier * self.attn(self.attn_norm(x), cos, sin)
        return x + self.residual_multiplier * self.mlp(self.mlp_norm(x))


class Decoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.width)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.norm = _norm(cfg.norm, cfg.width, cfg.norm_eps)
        self.output = None if cfg.tied_embeddings else nn.Linear(cfg.width, cfg.vocab_size, bias=False)
        cos, sin = rope_tables(cfg.seq_len, cfg.head_dim, cfg.rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        std = self.cfg.init_std
        for name, p in self.named_parameters():
            cls, _ = classify(name, p)
            if cls == "vector":
                if name.endswith("bias"):
                    p.zero_()
                else:
                    p.fill_(1.0)
            else:
                p.normal_(0.0, std[classify(name, p)[1]])

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens) * self.cfg.embedding_multiplier
        for block in self.blocks:
            x = block(x, self.rope_cos, self.rope_sin)
        x = self.norm(x)
        weight = self.embed.weight if self.output is None else self.output.weight
        return F.linear(x, weight) * self.cfg.output_multiplier


def classify(name: str, param: torch.Tensor) -> tuple[str, str]:
    """(parameter class, measurement kind) of a Decoder parameter by its name."""
    if param.ndim < 2:  # the vector kinds (recipec.kinds)
        if ".q_norm." in name or ".k_norm." in name:
            return "vector", "qk_norm"
        if name.startswith("norm."):
            return "vector", "final_norm"
        if "_norm." in name:
            return "vector", "norm"
        return "vector", "bias"
    if name.startswith("embed."):
        return "embedding", "embedding"
    if name.startswith("output."):
        return "output", "output"
    leaf = name.split(".")[-2]  # blocks.3.attn.q.weight -> q
    kind = {"q": "q", "k": "k", "v": "v", "o": "o", "gate": "mlp_in", "up": "mlp_in", "down": "mlp_out"}.get(leaf)
    if kind is None:
        raise ValueError(f"cannot classify parameter {name!r} of shape {tuple(param.shape)}")
    return "hidden", kind


def layer_of(name: str) -> int | None:
    parts = name.split(".")
    return int(parts[1]) if parts[0] == "blocks" else None
