"""Inspect the framework-neutral target: param_groups.json applied by ``recipec.torch`` to a nanoGPT-style model.

The model (``recipec.frameworks.nanogpt``; unfused q/k/v and gate/up, and for a mixture of experts a
router, per-expert Linears and the shared experts, when the recipe has Muon or experts) is built at
the compiled shape on the meta device, or with ``shrink`` at a small shape on CPU;
``recipec.torch.optimizers`` (torch.optim.Muon + AdamW) and ``init_std`` read param_groups.json with
``lower_multipliers=True``, and every parameter's optimizer class and group are read back (the model
applies no multiplier of its own; its attention uses the file's ``attn_logit_scale``). Kinds come from
the documented nanoGPT names, not from ``recipec.torch``'s classifier, so a misclassification there is
a difference.
"""

from __future__ import annotations

import json
from pathlib import Path

from recipec.inspect.observed import (
    FrameworkMissing,
    Observation,
    ParamRow,
    group_fields,
    groups_by_param,
    measured_std,
    shrunk,
)


def _model(shape: dict, tied: bool, norm: str, qk_norm: bool, bias: bool, split: bool = False):
    from torch import nn

    def make_norm(dim):
        if norm == "none":
            return None
        return nn.LayerNorm(dim, bias=bias) if norm == "layernorm" else nn.RMSNorm(dim)

    d, hd = shape["width"], shape["head_dim"]
    q, kv, f = shape["heads"] * hd, shape["kv_heads"] * hd, shape["ffn_hidden"]

    def swiglu(hidden):
        m = nn.Module()
        m.w1, m.w3, m.w2 = nn.Linear(d, hidden, bias=False), nn.Linear(d, hidden, bias=False), \
            nn.Linear(hidden, d, bias=False)
        return m

    experts = int(shape.get("num_experts") or 0)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = make_norm(d), make_norm(d)
            self.attn = nn.Module()
            if split:
                self.attn.q_proj = nn.Linear(d, q, bias=bias)
                self.attn.k_proj = nn.Linear(d, kv, bias=bias)
                self.attn.v_proj = nn.Linear(d, kv, bias=bias)
                self.attn.o_proj = nn.Linear(q, d, bias=bias)
            else:
                self.attn.c_attn = nn.Linear(d, q + 2 * kv, bias=bias)
                self.attn.c_proj = nn.Linear(q, d, bias=bias)
            if qk_norm and norm != "none":
                self.attn.q_norm, self.attn.k_norm = make_norm(hd), make_norm(hd)
            self.mlp = nn.Module()
            if experts:
                fe = int(shape["expert_ffn_hidden"])
                self.mlp.router = nn.Linear(d, experts, bias=False)
                self.mlp.experts = nn.ModuleList(swiglu(fe) for _ in range(experts))
                if int(shape.get("shared_experts") or 0):
                    self.mlp.shared_experts = swiglu(int(shape["shared_experts"]) * fe)
            elif split:
                self.mlp.gate_proj = nn.Linear(d, f, bias=bias)
                self.mlp.up_proj = nn.Linear(d, f, bias=bias)
                self.mlp.down_proj = nn.Linear(f, d, bias=bias)
            else:
                self.mlp.c_fc = nn.Linear(d, 2 * f, bias=bias)
                self.mlp.c_proj = nn.Linear(f, d, bias=bias)

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.transformer = nn.Module()
            self.transformer.wte = nn.Embedding(shape["vocab_size"], d)
            self.transformer.h = nn.ModuleList(Block() for _ in range(shape["depth"]))
            self.transformer.ln_f = make_norm(d)
            self.lm_head = nn.Linear(d, shape["vocab_size"], bias=False)
            if tied:
                self.lm_head.weight = self.transformer.wte.weight

    return GPT()


def observe(out_dir: Path, resolved: dict, *, shrink: bool) -> Observation:
    try:
        import torch
    except ImportError:
        raise FrameworkMissing("neutral", "pip install torch==2.13.0 (a CPU wheel is enough)") from None
    from recipec.frameworks.nanogpt import kind_of, split
    from recipec.torch import init_std, optimizers

    path = Path(out_dir) / "param_groups.json"
    groups_file = json.loads(path.read_text(encoding="utf-8"))
    rs = resolved["shape"]
    shape = shrunk(rs) if shrink else {k: rs[k] for k in ("width", "depth", "heads", "kv_heads", "head_dim",
                                                          "ffn_hidden", "vocab_size")}
    if not shrink and rs.get("num_experts"):
        shape.update({k: rs[k] for k in ("num_experts", "top_k", "expert_ffn_hidden", "shared_experts")})
    args = (shape, bool(rs["tied_embeddings"]), rs["norm"], bool(rs["qk_norm"]), bool(rs["bias"]), split(resolved))
    notes = []
    if shrink:
        torch.manual_seed(0)
        model = _model(*args)
        init_std(model, path, lower_multipliers=True)
    else:
        with torch.device("meta"):
            model = _model(*args)
        notes.append("full size on the meta device; init not measured (use --shrink)")
    group_of = groups_by_param(optimizers(model, path, lower_multipliers=True))
    rows = []
    for name, p in model.named_parameters():
        found = kind_of(name)
        if found is None:
            raise RuntimeError(f"recipec inspect: nanoGPT-style parameter {name!r} has no documented kind")
        kind, fused = found
        std, n = measured_std(p) if shrink and p.ndim == 2 else (None, 0)
        rows.append(ParamRow(name=name, kind=kind, fused=fused, shape=tuple(p.shape), init_std=std, init_numel=n,
                             **group_fields(*group_of[id(p)])))
    # The model applies what param_groups.json asks of model code: the attention scale, and for a tied
    # embedding the output and embedding multipliers (a shared weight cannot take them by lowering).
    m = groups_file["multipliers"]
    tied = bool(groups_file.get("tied_embeddings"))
    native = {"output_multiplier": float(m["output"]) if tied else 1.0,
              "embedding_multiplier": float(m["embedding"]) if tied else 1.0, "residual_multiplier": 1.0,
              "attn_logit_scale": float(m["attn_logit_scale"])}
    return Observation(target="neutral", rows=tuple(rows), native=native, shape=shape, notes=tuple(notes),
                       shrunk=shrink)
