"""The reference model: a LLaMA-style decoder whose multipliers and init come from a resolved recipe.

Pre-norm blocks (RMSNorm or LayerNorm), rotary position embeddings, SwiGLU MLP, optional grouped-query
attention and qk-norm, tied or untied embeddings, scaled dot-product attention with the resolved
attention logit scale, residual branches scaled by the resolved residual multiplier, embeddings and
logits scaled by the resolved embedding and output multipliers.

With ``model.moe`` every block's MLP is a mixture of experts (:class:`MoE`): a linear router
(``router``, width → num_experts, no bias, its logits × the resolved router multiplier), ``experts``
(SwiGLU experts ``w1``/``w3`` gate/up and ``w2`` down, each its own 2-D matrix), optional
``shared_experts`` (one SwiGLU of shared_experts × expert_ffn_hidden that sees every token), top-k
routing and the Switch load-balancing loss, which :class:`Decoder` returns with ``with_aux=True``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from recipec.verify.spec import ModelConfig


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


class Expert(nn.Module):
    """One SwiGLU expert: ``w2(silu(w1 x) · w3 x)`` (torchtitan's and Mixtral's names)."""

    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.w1 = nn.Linear(width, hidden, bias=False)
        self.w3 = nn.Linear(width, hidden, bias=False)
        self.w2 = nn.Linear(hidden, width, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Router(nn.Linear):
    """The router: a linear layer (width → num_experts, no bias) whose logits carry the resolved router
    multiplier; ``recipec_multiplier`` tells the coord check that its output is the weight's × that."""

    def __init__(self, width: int, num_experts: int, multiplier: float):
        super().__init__(width, num_experts, bias=False)
        self.recipec_multiplier = multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * self.recipec_multiplier


class MoE(nn.Module):
    """A mixture-of-experts MLP with top-k token-choice routing, computed expert by expert (the tokens
    each expert is sent are gathered, run, weighted and added back: exact, and deterministic — every
    ``index_add_`` writes each row at most once).

    Scores: ``softmax`` over all experts or ``sigmoid`` per expert; either way the top-k gate weights are
    renormalised to sum to 1 — as every target renders it (Megatron's softmax over the top-k logits,
    torchtitan's ``route_norm=True``, HF Qwen3-MoE's ``norm_topk_prob=True``) and as DeepSeek-V3 does for
    sigmoid scores. The auxiliary loss is Switch's E·Σᵢ fᵢ·Pᵢ × aux_loss_coeff over the step's
    tokens, fᵢ the fraction of the T·k assignments that went to expert i and Pᵢ its mean score (sigmoid
    scores normalised over the experts first, as DeepSeek-V3's balance loss does); 1 × coeff when the
    routing is uniform. It is Megatron's ``switch_load_balancing_loss_func`` for softmax scores."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.router = Router(cfg.width, cfg.num_experts, cfg.router_multiplier)
        self.experts = nn.ModuleList(Expert(cfg.width, cfg.expert_ffn_hidden) for _ in range(cfg.num_experts))
        shared = cfg.shared_experts * cfg.expert_ffn_hidden
        self.shared_experts = Expert(cfg.width, shared) if shared else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.cfg
        flat = x.reshape(-1, x.shape[-1])
        logits = self.router(flat).float()
        scores = logits.softmax(dim=-1) if c.router_score == "softmax" else logits.sigmoid()
        weights, chosen = scores.topk(c.top_k, dim=-1)
        weights = weights / weights.sum(dim=-1, keepdim=True)
        out = torch.zeros_like(flat)
        for e, expert in enumerate(self.experts):
            rows, slot = (chosen == e).nonzero(as_tuple=True)
            if rows.numel():
                y = expert(flat[rows]) * weights[rows, slot].unsqueeze(-1)
                out = out.index_add(0, rows, y.to(out.dtype))
        if self.shared_experts is not None:
            out = out + self.shared_experts(flat).to(out.dtype)
        tokens = flat.shape[0]
        assigned = torch.zeros(c.num_experts, device=flat.device).index_add_(
            0, chosen.reshape(-1), torch.ones(chosen.numel(), device=flat.device))
        probs = scores if c.router_score == "softmax" else scores / scores.sum(dim=-1, keepdim=True)
        aux = c.num_experts * (assigned / (tokens * c.top_k) * probs.mean(dim=0)).sum()
        return out.view_as(x), c.aux_loss_coeff * aux


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.residual_multiplier = cfg.residual_multiplier
        self.attn_norm = _norm(cfg.norm, cfg.width, cfg.norm_eps)
        self.attn = Attention(cfg)
        self.mlp_norm = _norm(cfg.norm, cfg.width, cfg.norm_eps)
        if cfg.moe:
            self.moe = MoE(cfg)
        else:
            self.mlp = MLP(cfg)

    def forward(self, x, cos, sin):
        """(output, auxiliary loss: 0-d, 0 for a dense block)."""
        x = x + self.residual_multiplier * self.attn(self.attn_norm(x), cos, sin)
        if hasattr(self, "moe"):
            y, aux = self.moe(self.mlp_norm(x))
            return x + self.residual_multiplier * y, aux
        return x + self.residual_multiplier * self.mlp(self.mlp_norm(x)), None


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

    @property
    def has_aux_loss(self) -> bool:
        """Does the forward have a load-balancing loss to add (``forward(tokens, with_aux=True)``)?"""
        return self.cfg.moe

    def forward(self, tokens: torch.Tensor, with_aux: bool = False):
        """Logits; with ``with_aux`` (logits, the blocks' summed load-balancing loss, 0-d; None when dense)."""
        x = self.embed(tokens) * self.cfg.embedding_multiplier
        aux = None
        for block in self.blocks:
            x, a = block(x, self.rope_cos, self.rope_sin)
            if a is not None:
                aux = a if aux is None else aux + a
        x = self.norm(x)
        weight = self.embed.weight if self.output is None else self.output.weight
        logits = F.linear(x, weight) * self.cfg.output_multiplier
        return (logits, aux) if with_aux else logits


def logits_and_aux(forward, model, tokens: torch.Tensor):
    """(logits, auxiliary loss or None) of ``forward`` (the model or its compiled forward): the reference
    model's load-balancing loss when it has one; a user's model (``forward(tokens)`` only) has none."""
    if getattr(model, "has_aux_loss", False):
        return forward(tokens, with_aux=True)
    return forward(tokens), None


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
    parts = name.split(".")
    leaf = parts[-2]  # blocks.3.attn.q.weight -> q
    # blocks.3.moe.router.weight, .moe.experts.5.w1.weight, .moe.shared_experts.w2.weight
    if len(parts) > 3 and parts[2] == "moe":
        if leaf == "router":
            return "output", "router"
        owner = "expert" if parts[3] == "experts" else "shared" if parts[3] == "shared_experts" else None
        side = {"w1": "in", "w3": "in", "w2": "out"}.get(leaf)
        if owner is None or side is None:
            raise ValueError(f"cannot classify parameter {name!r} of shape {tuple(param.shape)}")
        return "hidden", f"{owner}_{side}"
    kind = {"q": "q", "k": "k", "v": "v", "o": "o", "gate": "mlp_in", "up": "mlp_in", "down": "mlp_out"}.get(leaf)
    if kind is None:
        raise ValueError(f"cannot classify parameter {name!r} of shape {tuple(param.shape)}")
    return "hidden", kind


def layer_of(name: str) -> int | None:
    parts = name.split(".")
    return int(parts[1]) if parts[0] == "blocks" else None
