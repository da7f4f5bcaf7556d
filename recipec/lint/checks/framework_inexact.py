"""The target framework cannot express a value of the compiled recipe exactly.

Checked with ``--target``. Per-class learning rate, weight decay and ε are not the problem: torchtitan
expresses them natively (``ParamGroupConfig``), and Megatron-LM (``config_overrides``) and the
transformers Trainer (a custom optimizer) need code that ``recipec compile`` writes. What a framework
cannot take at all is reported here, because the run would silently differ from the recipe:

- torchtitan: a z-loss; an attention logit scale other than 1/√d_head; embedding or readout
  multipliers with tied embeddings (untied ones are lowered into init, LR, ε and WD); LayerNorm, no
  norm, or linear biases (its Llama3 has RMSNorm and no biases).
- Megatron-LM: a z-loss (``pretrain_gpt.py`` has none for dense GPT); a residual-branch multiplier
  (CompleteP); an embedding init std other than ``--init-method-std``; a readout multiplier of 1 under
  ``--use-mup`` (1.0 means 1/width_mult there); an attention scale not of the form √b/d_head; no norm.
- transformers Trainer: a z-loss; embedding multipliers; an attention scale other than 1/√d_head;
  readout multipliers with tied embeddings; a floor LR (``min_lr_ratio``) with linear decay.

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

import math

from recipec.lint.base import Finding, fmt

CODE = "RC603"
NAME = "framework-inexact"
SEVERITY = "warning"
SUMMARY = "The target framework cannot express a value of the compiled recipe exactly."
RATIONALE = ("A value the framework cannot take is dropped or approximated when the config is rendered, so the "
             "run is not the compiled recipe and the transfer no longer holds.")
CITATION = "FRAMEWORKS.md (torchtitan 0.3, Megatron-LM / megatron-core 0.19, transformers 5.x Trainer)"
OPTIONS: dict = {}


def _one(x: float) -> bool:
    return math.isclose(x, 1.0, rel_tol=1e-12)


def _default_scale(res) -> float:
    return 1.0 / math.sqrt(res.shape.head_dim)


def _rule_path(ctx, hp: str):
    rules = ctx.power_rules("global", hp, None)
    return ctx.transfer_path(rules[0].index) if rules else None


# Each gap: (key, predicate(ctx, res), candidate anchors(ctx), message(res)). The first anchor that the
# source map knows is used; a finding is reported once per key, at the first size that shows it.

def _z_loss(ctx):
    return [("optimizer", "z_loss")]


def _attn(ctx):
    return [("init", "attn_logit_scale"), _rule_path(ctx, "attn_logit_scale"), ("model", "head_dim"), ("model", "heads")]


def _out_mult(ctx):
    return [("init", "output_multiplier"), _rule_path(ctx, "output_multiplier"), ("model", "tied_embeddings")]


def _emb_mult(ctx):
    return [("init", "embedding_multiplier"), _rule_path(ctx, "embedding_multiplier")]


GAPS = {
    "torchtitan": [
        ("z_loss", lambda c, r: r.optimizer.z_loss > 0, _z_loss,
         lambda r: f"z_loss = {fmt(r.optimizer.z_loss)}: torchtitan's cross-entropy has no z-loss term"),
        ("attn", lambda c, r: not math.isclose(r.multipliers.attn_logit_scale.value, _default_scale(r), rel_tol=1e-9),
         _attn, lambda r: f"attention logit scale {fmt(r.multipliers.attn_logit_scale.value)}: torchtitan uses "
                          f"1/√d_head = {fmt(_default_scale(r))}"),
        ("tied_out", lambda c, r: r.shape.tied_embeddings and not _one(r.multipliers.output_multiplier.value), _out_mult,
         lambda r: f"readout multiplier {fmt(r.multipliers.output_multiplier.value)} with tied embeddings: torchtitan "
                   f"has no logit multiplier and cannot lower it into a shared weight"),
        ("tied_emb", lambda c, r: r.shape.tied_embeddings and not _one(r.multipliers.embedding_multiplier.value),
         _emb_mult, lambda r: f"embedding multiplier {fmt(r.multipliers.embedding_multiplier.value)} with tied "
                              f"embeddings: torchtitan has no embedding multiplier"),
        ("norm", lambda c, r: r.shape.norm != "rmsnorm", lambda c: [("model", "norm")],
         lambda r: f"norm: {r.shape.norm}: torchtitan's Llama3 uses RMSNorm"),
        ("bias", lambda c, r: r.shape.bias, lambda c: [("model", "bias")],
         lambda r: "bias: true: torchtitan's Llama3 linears have no bias"),
    ],
    "megatron": [
        ("z_loss", lambda c, r: r.optimizer.z_loss > 0, _z_loss,
         lambda r: f"z_loss = {fmt(r.optimizer.z_loss)}: pretrain_gpt.py has no z-loss for dense GPT models"),
        ("residual", lambda c, r: not _one(r.multipliers.residual_multiplier.value),
         lambda c: [("init", "residual_multiplier"), _rule_path(c, "residual_multiplier")],
         lambda r: f"residual-branch multiplier {fmt(r.multipliers.residual_multiplier.value)}: Megatron has none "
                   f"(its muP scales the output projections' init instead)"),
        ("emb_std", lambda c, r: _megatron_emb_std(r) is not None,
         lambda c: [("init", "per_class_std", "embedding"), ("init", "std")],
         lambda r: f"embedding init std {fmt(r.classes['embedding'].init_std.value)}: Megatron initialises "
                   f"embeddings with --init-method-std ({fmt(_megatron_emb_std(r))})"),
        ("out_one", lambda c, r: _one(r.multipliers.output_multiplier.value) and r.ratios["width"] != 1, _out_mult,
         lambda r: "readout multiplier 1: under --use-mup Megatron reads 1.0 as 'use 1/width_mult' and scales the "
                   f"logits by {fmt(1 / r.ratios['width'])}"),
        ("attn", lambda c, r: _megatron_attn_gap(r), _attn,
         lambda r: f"attention logit scale {fmt(r.multipliers.attn_logit_scale.value)}: Megatron's muP gives "
                   f"√b/d_head with an integer b, which approximates it"),
        ("norm", lambda c, r: r.shape.norm == "none", lambda c: [("model", "norm")],
         lambda r: "norm: none: Megatron always normalises"),
    ],
    "hf": [
        ("z_loss", lambda c, r: r.optimizer.z_loss > 0, _z_loss,
         lambda r: f"z_loss = {fmt(r.optimizer.z_loss)}: the Trainer's loss has no z-loss term"),
        ("emb", lambda c, r: not _one(r.multipliers.embedding_multiplier.value), _emb_mult,
         lambda r: f"embedding multiplier {fmt(r.multipliers.embedding_multiplier.value)}: HF Llama has none"),
        ("attn", lambda c, r: not math.isclose(r.multipliers.attn_logit_scale.value, _default_scale(r), rel_tol=1e-9),
         _attn, lambda r: f"attention logit scale {fmt(r.multipliers.attn_logit_scale.value)}: HF Llama uses "
                          f"1/√d_head = {fmt(_default_scale(r))}"),
        ("tied_out", lambda c, r: r.shape.tied_embeddings and not _one(r.multipliers.output_multiplier.value), _out_mult,
         lambda r: f"readout multiplier {fmt(r.multipliers.output_multiplier.value)} with tied embeddings: it cannot "
                   f"be lowered into the shared weight"),
        ("min_lr", lambda c, r: r.schedule.decay == "linear" and r.schedule.min_lr_ratio > 0,
         lambda c: [("schedule", "min_lr_ratio"), ("schedule", "decay")],
         lambda r: f"min_lr_ratio = {fmt(r.schedule.min_lr_ratio)} with linear decay: the Trainer's linear schedule "
                   f"decays to 0"),
    ],
}


def _megatron_emb_std(res) -> float | None:
    """Megatron's embedding init std (--init-method-std, the hidden std at the base width) when it differs."""
    emb, hidden = res.classes["embedding"].init_std, res.classes["hidden"].init_std
    if emb is None or hidden is None:
        return None
    megatron = hidden.value * math.sqrt(res.ratios["width"])
    return None if math.isclose(emb.value, megatron, rel_tol=1e-9) else megatron


def _megatron_attn_gap(res) -> bool:
    scale, d = res.multipliers.attn_logit_scale.value, res.shape.head_dim
    b = max(1, round((scale * d) ** 2))
    return not math.isclose(math.sqrt(b) / d, scale, rel_tol=1e-9)


def check(ctx, options):
    gaps = GAPS.get(ctx.target)
    if not gaps:
        return
    smap = ctx.loaded.source_map
    seen: set = set()
    for name, res in [("proxy", ctx.proxy), *ctx.targets()]:
        for key, applies, anchors, message in gaps:
            if key in seen or not applies(ctx, res):
                continue
            seen.add(key)
            candidates = [p for p in anchors(ctx) if p is not None]
            path = next((p for p in candidates if smap.has(p)), None)
            if path is None:
                path = ("sizes", name) if name != "proxy" else (candidates[0] if candidates else ("model",))
            where = "the proxy" if name == "proxy" else f"size '{name}'"
            yield Finding(path, f"{ctx.target} cannot express {message(res)} (first at {where})",
                          prefer_key=path == ("sizes", name),
                          hint="change the recipe, or accept the difference (recipec compile notes it too)")
