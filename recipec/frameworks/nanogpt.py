"""The nanoGPT-style model that ``recipec inspect`` builds for the framework-neutral target.

Layout as in karpathy/nanoGPT ``model.py`` (``transformer.wte``, ``transformer.h[i].{ln_1, attn.c_attn,
attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj}``, ``transformer.ln_f``, ``lm_head``, tied to ``wte`` when the
recipe ties), with the recipe's LLaMA-style choices: RoPE (no ``wpe``), grouped-query attention
(``c_attn`` holds q, k and v fused), a SwiGLU MLP (``c_fc`` holds gate and up fused), optional qk-norm
(``attn.q_norm``, ``attn.k_norm``) and biases. The kind of each parameter by its name; standard library only.

For a recipe with Muon or a mixture of experts the model is unfused (``SPLIT``): torch.optim.Muon
orthogonalises each 2-D matrix on its own, so q, k, v (``attn.q_proj`` / ``k_proj`` / ``v_proj``, ``o_proj``)
and gate, up, down (``mlp.gate_proj`` / ``up_proj`` / ``down_proj``) are separate Linears; an MoE block
``mlp`` holds ``router`` (Linear width → experts), ``experts.N.{w1, w3, w2}`` (one SwiGLU of expert size per
expert, in an ``nn.ModuleList``) and ``shared_experts.{w1, w3, w2}`` (the shared experts as one SwiGLU).
That is the plain-PyTorch layout ``recipec.torch`` documents for MoE models.
"""

from __future__ import annotations

import re

KIND_PATTERNS: tuple[tuple[str, str, tuple[str, ...]], ...] = (  # (regex, kind, further kinds fused in)
    (r"^transformer\.wte\.weight$", "embedding", ()),
    (r"^lm_head\.weight$", "output", ()),
    (r"^transformer\.h\.\d+\.attn\.c_attn\.weight$", "q", ("k", "v")),
    (r"^transformer\.h\.\d+\.attn\.c_proj\.weight$", "o", ()),
    (r"^transformer\.h\.\d+\.mlp\.c_fc\.weight$", "mlp_in", ()),
    (r"^transformer\.h\.\d+\.mlp\.c_proj\.weight$", "mlp_out", ()),
    # the unfused layout (Muon, mixture of experts)
    (r"^transformer\.h\.\d+\.attn\.q_proj\.weight$", "q", ()),
    (r"^transformer\.h\.\d+\.attn\.k_proj\.weight$", "k", ()),
    (r"^transformer\.h\.\d+\.attn\.v_proj\.weight$", "v", ()),
    (r"^transformer\.h\.\d+\.attn\.o_proj\.weight$", "o", ()),
    (r"^transformer\.h\.\d+\.mlp\.(gate|up)_proj\.weight$", "mlp_in", ()),
    (r"^transformer\.h\.\d+\.mlp\.down_proj\.weight$", "mlp_out", ()),
    (r"^transformer\.h\.\d+\.mlp\.router\.weight$", "router", ()),
    (r"^transformer\.h\.\d+\.mlp\.experts\.\d+\.w[13]\.weight$", "expert_in", ()),
    (r"^transformer\.h\.\d+\.mlp\.experts\.\d+\.w2\.weight$", "expert_out", ()),
    (r"^transformer\.h\.\d+\.mlp\.shared_experts\.w[13]\.weight$", "shared_in", ()),
    (r"^transformer\.h\.\d+\.mlp\.shared_experts\.w2\.weight$", "shared_out", ()),
    (r"^transformer\.h\.\d+\.attn\.[qk]_norm\.(weight|bias)$", "qk_norm", ()),
    (r"^transformer\.h\.\d+\.ln_[12]\.(weight|bias)$", "norm", ()),
    (r"^transformer\.ln_f\.(weight|bias)$", "final_norm", ()),
    (r"\.bias$", "bias", ()),
)
_COMPILED = tuple((re.compile(p), k, f) for p, k, f in KIND_PATTERNS)


def kind_of(name: str) -> tuple[str, tuple[str, ...]] | None:
    return next(((k, f) for rx, k, f in _COMPILED if rx.search(name)), None)


def split(resolved: dict) -> bool:
    """Whether the neutral check model is unfused for this resolved.json (Muon or a mixture of experts)."""
    return resolved.get("muon") is not None or bool(resolved["shape"].get("num_experts"))
