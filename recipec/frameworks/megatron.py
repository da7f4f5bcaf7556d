"""megatron-core 0.19.2's GPTModel: which parameter is which kind (``recipec.kinds``), by module name.

Read off the pinned megatron-core 0.19.2 source distribution (paths below are inside the installed
``megatron`` package). The renderer writes ``KIND_RULES`` into ``megatron_pretrain.py`` (which must run
without recipec installed) and ``recipec.inspect.megatron`` names the kind of each parameter it reads
back with ``kind_of``.

Parameter names (``GPTModel.named_parameters()``, local and Transformer Engine layer specs):

- ``embedding.word_embeddings.weight``: the token table (GPTModel.__init__, core/models/gpt/gpt_model.py:168;
  LanguageModelEmbedding, core/models/common/embeddings/language_model_embedding.py:56).
- ``decoder.layers.N.*``: the blocks (core/transformer/transformer_block.py:363); a block has
  ``input_layernorm``, ``self_attention``, ``pre_mlp_layernorm`` and ``mlp``
  (core/transformer/transformer_layer.py:354, 375, 406, 433).
- ``self_attention.linear_qkv.weight``: q, k and v in ONE tensor (SelfAttention, core/transformer/attention.py:1681),
  rows interleaved per query group ``[q × heads/groups, k, v] × groups``, each ``head_dim`` rows
  (attention.py:1828-1890, ``get_query_key_value_tensors``); tensor parallelism splits the rows into
  contiguous shards. One tensor is one optimizer group: it trains with kind q's numbers.
- ``self_attention.linear_proj.weight``: the attention output projection (attention.py:413), a residual
  branch output; ``self_attention.q_layernorm`` / ``k_layernorm`` (attention.py:1722, 1731) with
  ``--qk-layernorm``.
- ``mlp.linear_fc1.weight``: gate and up projections in one tensor under ``--swiglu``; ``mlp.linear_fc2.weight``:
  the down projection, a residual branch output (core/transformer/mlp.py:222, 242).
- ``decoder.final_layernorm``: the norm before the readout (transformer_block.py:376).
- ``output_layer.weight``: the readout (gpt_model.py:269). Tied (no ``--untie-embeddings-and-output-weights``)
  it is not allocated on the first pipeline stage (``skip_weight_param_allocation``, gpt_model.py:281); on a
  later stage it is a copy of the embedding, marked ``shared_embedding``
  (core/models/common/language_module/language_module.py:284), so it is kind ``embedding`` there.
- Transformer Engine fuses the block norms into the next linear: ``linear_qkv.layer_norm_weight`` /
  ``layer_norm_bias`` and ``linear_fc1.layer_norm_weight`` / ``layer_norm_bias`` (the local spec names
  them ``input_layernorm`` / ``pre_mlp_layernorm``). A norm's bias (``--normalization LayerNorm``) is kind
  of its norm, as in ``recipec.torch``.
- ``.bias`` of the four linears with ``add_bias_linear`` (no ``--disable-bias-linear``): kind ``bias``.

Mixture of experts (``--num-experts``; every layer an MoE layer, ``--moe-layer-freq 1``): the block's ``mlp`` is a
``MoELayer`` (core/transformer/moe/moe_layer.py:259, 326, 338) with

- ``mlp.router.weight`` ``(num_experts, hidden)``: the router (TopKRouter, core/transformer/moe/router.py:61-63;
  created in fp32, initialised with ``config.init_method``, then cast to ``params_dtype``, router.py:74-80);
- ``mlp.experts.local_experts.K.linear_fc1.weight`` ``(2·moe_ffn, hidden)`` (gate and up under ``--swiglu``)
  and ``.linear_fc2.weight`` ``(hidden, moe_ffn)``: one ``MLP`` per local expert K (SequentialMLP,
  core/transformer/moe/experts.py:1286-1302). The local backend always builds SequentialMLP
  (core/models/backends.py:133-142), and so does Transformer Engine without ``--moe-grouped-gemm``
  (core/extensions/transformer_engine_spec_provider.py:75-105);
- with Transformer Engine and ``--moe-grouped-gemm``: TEGroupedMLP, ``mlp.experts.linear_fc1.weight{i}`` /
  ``linear_fc2.weight{i}``, one 2-D parameter per local expert i (experts.py:182; transformer_engine.py:460);
- ``mlp.shared_experts.linear_fc1.weight`` ``(2·S·fe, hidden)`` / ``linear_fc2.weight``: the shared experts as
  one MLP of ``--moe-shared-expert-intermediate-size`` (core/transformer/moe/shared_experts.py).

How megatron-core marks parameters (what the kinds do NOT use): ``is_embedding_or_output_parameter`` on the
word embeddings and on the readout (language_module.py:224, 230); under ``--use-mup``
``is_embedding_parameter`` on every embedding parameter AND on the untied readout (language_module.py:238,
245, 287) — which is why a flag test takes the lm_head for the embedding; ``shared_embedding`` on the tied
copies across pipeline stages (language_module.py:270, 284). Kinds come from module names first.

Standard library only.
"""

from __future__ import annotations

import re

VERSION = "0.19.2"

# (regex searched in the parameter name, kind); first match wins. ``output`` is ``embedding`` when the
# parameter is a tied copy (see ``kind_of``).
KIND_RULES: tuple[tuple[str, str], ...] = (
    (r"(^|\.)output_layer\.weight$", "output"),
    (r"(^|\.)embedding\.word_embeddings\.weight$", "embedding"),
    (r"(^|\.)self_attention\.linear_qkv\.weight$", "q"),
    (r"(^|\.)self_attention\.linear_proj\.weight$", "o"),
    (r"(^|\.)mlp\.linear_fc1\.weight$", "mlp_in"),
    (r"(^|\.)mlp\.linear_fc2\.weight$", "mlp_out"),
    (r"(^|\.)mlp\.router\.weight$", "router"),
    (r"(^|\.)mlp\.experts\.local_experts\.\d+\.linear_fc1\.weight$", "expert_in"),
    (r"(^|\.)mlp\.experts\.local_experts\.\d+\.linear_fc2\.weight$", "expert_out"),
    (r"(^|\.)mlp\.experts\.linear_fc1\.weight\d+$", "expert_in"),
    (r"(^|\.)mlp\.experts\.linear_fc2\.weight\d+$", "expert_out"),
    (r"(^|\.)mlp\.shared_experts\.linear_fc1\.weight$", "shared_in"),
    (r"(^|\.)mlp\.shared_experts\.linear_fc2\.weight$", "shared_out"),
    (r"(^|\.)self_attention\.[qk]_layernorm\.(weight|bias)$", "qk_norm"),
    (r"(^|\.)decoder\.final_layernorm\.(weight|bias)$", "final_norm"),
    (r"(^|\.)(input_layernorm|pre_mlp_layernorm)\.(weight|bias)$", "norm"),
    (r"(^|\.)(linear_qkv|linear_fc1)\.layer_norm_(weight|bias)$", "norm"),
    (r"(^|\.)(linear_qkv|linear_proj|linear_fc1|linear_fc2)\.bias$", "bias"),
)
# The one tensor holding several kinds: its rows, per query group, in this order (attention.py:1828-1890).
QKV_FUSED = ("q", "k", "v")
# The residual-branch outputs (recipec.kinds.BRANCH_OUT: o, mlp_out, expert_out, shared_out, where the residual
# multiplier is lowered) are linear_proj and the linear_fc2 of the MLP, of each expert and of the shared experts
# (an MoE layer's output is the routed experts' prob-weighted sum plus the shared experts', moe_layer.py), added
# to the residual stream by the block's bias-dropout-add
# (core/fusions/fused_bias_dropout.py:11-58).
# The matrices megatron_pretrain.py re-initialises after megatron-core has built the model (the embedding
# keeps megatron-core's own init, given by --embedding-init-method-std: a tied embedding is synchronised
# across pipeline stages inside GPTModel.__init__, language_module.py:305-308).
REINIT = ("q", "k", "v", "o", "mlp_in", "mlp_out", "expert_in", "expert_out", "shared_in", "shared_out", "output",
          "router")

# Re-initialised per rank: the router is the whole tensor on every tensor-parallel rank (TopKRouter's weight is not
# partitioned, router.py:61-63); the routed experts are sharded over the expert-tensor-parallel group and each
# expert-parallel rank holds other experts under the same local names (experts.py:1286-1302).
TP_REPLICATED = ("router",)
EXPERT_PARALLEL = ("expert_in", "expert_out")

_RULES = tuple((re.compile(p), k) for p, k in KIND_RULES)


def kind_of(name: str, *, tied: bool = False) -> str:
    """The kind of a megatron-core GPTModel parameter; ``tied``: the parameter is a tied copy of the embedding
    (``shared_embedding``). Raises ``ValueError`` for a name no rule knows (learned position embeddings, MTP, a 3-D
    ``--moe-single-grouped-weight``)."""
    for rx, kind in _RULES:
        if rx.search(name):
            return "embedding" if kind == "output" and tied else kind
    raise ValueError(f"no recipec kind for megatron-core parameter {name!r}")


def qkv_row_runs(heads: int, kv_heads: int, head_dim: int) -> tuple[tuple[str, int, int], ...]:
    """(kind, first row, end row) runs of the full (unsharded) ``linear_qkv.weight``: per query group,
    ``heads // kv_heads`` query heads, then one key head, then one value head (``head_dim`` rows each)."""
    if heads % kv_heads:
        raise ValueError(f"{heads} attention heads do not split into {kv_heads} query groups")
    per_group = heads // kv_heads
    runs, row = [], 0
    for _ in range(kv_heads):
        for kind, n in (("q", per_group * head_dim), ("k", head_dim), ("v", head_dim)):
            runs.append((kind, row, row + n))
            row += n
    return tuple(runs)
