"""A nanoGPT-style GPT that applies muP correctly: the model `recipec verify --model` is shown on.

    recipec verify examples/models/gpt-recipe.yaml --size big --model examples/models/gpt.py:build --coord-check

nanoGPT's layout and names (``transformer.wte``/``wpe``/``h``/``ln_f``, ``attn.c_attn``/``c_proj``,
``mlp.c_fc``/``c_proj``, ``lm_head``), so ``recipec.torch`` classifies it by structure with no
``--kind-map``; the readout is untied, as muP wants (``spec.tied_embeddings`` ties it). Everything that
muP changes with width comes from the :class:`recipec.verify.factory.RungSpec` the factory receives:

* init: every matrix normal with its kind's resolved std (``spec.init_std[kind]``: hidden ÷ √m);
* the readout multiplier (``spec.output_multiplier``, 1/m under fan2025) on the logits;
* the attention logit scale (``spec.attn_logit_scale``, 1/head_dim anchored at the proxy);
* the embedding and residual multipliers.

The broken variants beside it (``gpt_*.py``) each get one of these wrong.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CausalSelfAttention(nn.Module):
    def __init__(self, spec, scale: float):
        super().__init__()
        self.heads, self.head_dim, self.scale = spec.heads, spec.head_dim, scale
        inner = spec.heads * spec.head_dim
        self.c_attn = nn.Linear(spec.width, 3 * inner, bias=spec.bias)  # fused q, k, v (kind q: fan-in width)
        self.c_proj = nn.Linear(inner, spec.width, bias=spec.bias)

    def forward(self, x):
        b, t, _ = x.shape
        q, k, v = self.c_attn(x).split(self.heads * self.head_dim, dim=2)
        q, k, v = (z.view(b, t, self.heads, self.head_dim).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scale)
        return self.c_proj(y.transpose(1, 2).reshape(b, t, self.heads * self.head_dim))


class MLP(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.c_fc = nn.Linear(spec.width, spec.ffn_hidden, bias=spec.bias)
        self.c_proj = nn.Linear(spec.ffn_hidden, spec.width, bias=spec.bias)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, spec, attn_scale: float):
        super().__init__()
        self.residual = spec.residual_multiplier
        self.ln_1 = nn.LayerNorm(spec.width, eps=spec.norm_eps, bias=spec.bias)
        self.attn = CausalSelfAttention(spec, attn_scale)
        self.ln_2 = nn.LayerNorm(spec.width, eps=spec.norm_eps, bias=spec.bias)
        self.mlp = MLP(spec)

    def forward(self, x):
        x = x + self.residual * self.attn(self.ln_1(x))
        return x + self.residual * self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """``readout_multiplier``, ``hidden_std`` and ``attn_scale`` default to the spec's (muP as resolved);
    the broken variants pass their own."""

    def __init__(self, spec, *, readout_multiplier: float | None = None, hidden_std: float | None = None,
                 attn_scale: float | None = None):
        super().__init__()
        self.embedding_multiplier = spec.embedding_multiplier
        self.readout_multiplier = spec.output_multiplier if readout_multiplier is None else readout_multiplier
        scale = spec.attn_logit_scale if attn_scale is None else attn_scale
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(spec.vocab_size, spec.width),
            wpe=nn.Embedding(spec.seq_len, spec.width),
            h=nn.ModuleList(Block(spec, scale) for _ in range(spec.depth)),
            ln_f=nn.LayerNorm(spec.width, eps=spec.norm_eps, bias=spec.bias),
        ))
        self.lm_head = nn.Linear(spec.width, spec.vocab_size, bias=False)
        if spec.tied_embeddings:
            self.lm_head.weight = self.transformer.wte.weight
        self._init(spec, hidden_std)

    @torch.no_grad()
    def _init(self, spec, hidden_std):
        std = spec.init_std
        for name, p in self.named_parameters():
            if p.ndim < 2:
                continue  # LayerNorm gains 1, biases 0 (torch's defaults)
            if ".wte." in name or ".wpe." in name:
                p.normal_(0.0, std["embedding"])
            elif name.startswith("lm_head"):
                p.normal_(0.0, std["output"])
            else:
                kind = ("q" if "c_attn" in name else "o" if "attn.c_proj" in name else
                        "mlp_in" if "c_fc" in name else "mlp_out")
                p.normal_(0.0, std[kind] if hidden_std is None else hidden_std)
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                p.zero_()

    def forward(self, tokens):
        t = tokens.shape[1]
        pos = torch.arange(t, device=tokens.device)
        x = (self.transformer.wte(tokens) + self.transformer.wpe(pos)) * self.embedding_multiplier
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x)) * self.readout_multiplier


def build(spec) -> GPT:
    """The ``--model`` factory: muP applied as the recipe resolves it."""
    return GPT(spec)
