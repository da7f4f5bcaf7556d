"""The target framework cannot express a value of the compiled recipe exactly.

Checked with ``--target``. Per-class learning rate, weight decay and ε are not the problem: torchtitan
expresses them natively (``ParamGroupConfig``), and Megatron-LM (``config_overrides``) and the
transformers Trainer (a custom optimizer) need code that ``recipec compile`` writes. What a framework
cannot take at all is reported here, because the run would silently differ from the recipe:

- torchtitan: a z-loss; an attention logit scale other than 1/√d_head; embedding or readout
  multipliers with tied embeddings (untied ones are lowered into init, LR, ε and WD); LayerNorm, no
  norm, or linear biases (its Llama3 has RMSNorm and no biases); fp16 or fp8 precision; a v init std
  other than k's (one Linear config builds wk and wv).
- Megatron-LM: a z-loss (``pretrain_gpt.py`` has none for dense GPT); a residual-branch multiplier on
  the biases of linear_proj / linear_fc2 (the weights take it, lowered); k or v LR, WD or ε other than
  q's (linear_qkv is one tensor); no norm; a non-integer ``rope_theta``; Adam with weight decay
  (Megatron's is decoupled).
- transformers Trainer: a z-loss; embedding or readout multipliers with tied embeddings; an attention
  scale other than 1/√d_head; a floor LR (``min_lr_ratio``) with linear decay; qk-norm, LayerNorm or no
  norm (the written model is HF Llama); fp8 precision.

The list is ``recipec.frameworks.gaps``: the same one the renderers write into their outputs as notes.

**Anti-pattern**

```yaml
# recipec lint --target torchtitan
optimizer: {lr: 3.0e-3, z_loss: 1.0e-4}   # torchtitan's loss has no z-loss term
```

**Best practice**

```yaml
# recipec lint --target torchtitan
optimizer: {lr: 3.0e-3, z_loss: 0.0}
model: {qk_norm: true}                    # the stability fix torchtitan can express
```
"""

from __future__ import annotations

from recipec.lint.base import Finding

CODE = "RC603"
NAME = "framework-inexact"
SEVERITY = "warning"
SUMMARY = "The target framework cannot express a value of the compiled recipe exactly."
RATIONALE = ("A value the framework cannot take is dropped or approximated when the config is rendered, so the "
             "run is not the compiled recipe and the transfer no longer holds.")
CITATION = ("torchtitan 0.3.0, https://github.com/pytorch/torchtitan/tree/v0.3.0/torchtitan/models/llama3; "
            "Megatron-LM (megatron-core 0.19.2) arguments, "
            "https://github.com/NVIDIA/Megatron-LM/blob/core_v0.19.2/megatron/training/arguments.py; "
            "transformers 5.24 Trainer, https://github.com/huggingface/transformers/blob/v5.24.0/src/transformers/trainer.py")
OPTIONS: dict = {}


def _rule_path(ctx, hp: str):
    rules = ctx.power_rules("global", hp, None)
    return ctx.transfer_path(rules[0].index) if rules else None


# What a framework cannot express comes from recipec.frameworks.gaps, the list the renderers write as notes:
# lint and compile cannot disagree. Here each gap key is anchored in the recipe: the first of its candidate
# paths that the source map knows; a finding is reported once per key, at the first size that shows it.

def _attn(ctx):
    return [("init", "attn_logit_scale"), _rule_path(ctx, "attn_logit_scale"), ("model", "head_dim"),
            ("model", "heads")]


def _out_mult(ctx):
    return [("init", "output_multiplier"), _rule_path(ctx, "output_multiplier"), ("model", "tied_embeddings")]


def _emb_mult(ctx):
    return [("init", "embedding_multiplier"), _rule_path(ctx, "embedding_multiplier")]


def _anchors(ctx, key: str) -> list:
    return {
        "z_loss": lambda: [("optimizer", "z_loss")],
        "attn": lambda: _attn(ctx),
        "tied_out": lambda: _out_mult(ctx),
        "tied_emb": lambda: _emb_mult(ctx),
        "emb": lambda: _emb_mult(ctx),
        "norm": lambda: [("model", "norm")],
        "bias": lambda: [("model", "bias")],
        "qk_norm": lambda: [("model", "qk_norm")],
        "precision": lambda: [("precision",)],
        "rope": lambda: [("model", "rope_theta")],
        "min_lr": lambda: [("schedule", "min_lr_ratio"), ("schedule", "decay")],
        "adam_wd": lambda: [("optimizer", "name"), ("optimizer", "weight_decay")],
        "kv_init": lambda: [("init", "per_kind_std", "v"), ("init", "per_kind_std", "k"), ("init", "std")],
        "residual_bias": lambda: [("init", "residual_multiplier"), _rule_path(ctx, "residual_multiplier"),
                                  ("model", "bias")],
        "qkv_k": lambda: [("optimizer", "per_kind", "k"), ("optimizer", "lr")],
        "qkv_v": lambda: [("optimizer", "per_kind", "v"), ("optimizer", "lr")],
        "aux_loss": lambda: [("model", "moe", "aux_loss_coeff"), ("model", "moe")],
        "moe_dtype": lambda: [("precision",)],
        "muon": lambda: [("optimizer", "muon")],
    }.get(key, lambda: _by_topic(key))()


def _by_topic(key: str) -> list:
    """Gaps about Muon or a mixture of experts (keys naming them), anchored at the recipe's section for them."""
    if "muon" in key:
        return [("optimizer", "muon", key.split("muon_", 1)[-1]), ("optimizer", "muon")]
    if any(word in key for word in ("moe", "expert", "router")):
        return [("model", "moe"), ("cluster", "expert_parallel")]
    return []


def check(ctx, options):
    from recipec.frameworks import FRAMEWORKS

    if ctx.target not in FRAMEWORKS:
        return
    from recipec.frameworks.gaps import gaps  # here, not above: lint at the neutral target never imports it

    smap = ctx.loaded.source_map
    seen: set = set()
    for name, res in [("proxy", ctx.proxy), *ctx.targets()]:
        for gap in gaps(ctx.target, res):
            if gap.key in seen:
                continue
            seen.add(gap.key)
            candidates = [p for p in _anchors(ctx, gap.key) if p is not None]
            path = next((p for p in candidates if smap.has(p)), None)
            if path is None:
                path = ("sizes", name) if name != "proxy" else (candidates[0] if candidates else ("model",))
            where = "the proxy" if name == "proxy" else f"size '{name}'"
            yield Finding(path, f"{ctx.target}: {gap.note} (first at {where})", prefer_key=path == ("sizes", name),
                          hint="change the recipe, or accept the difference (recipec compile notes it too)")
