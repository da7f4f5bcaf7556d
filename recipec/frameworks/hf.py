"""Hugging Face transformers 5.x ``LlamaForCausalLM`` and ``Qwen3MoeForCausalLM``: their parameter names and
what kind each one is.

Names from ``transformers/models/llama/modeling_llama.py`` (5.24): ``LlamaForCausalLM.model`` is a
``LlamaModel`` with ``embed_tokens``, ``layers[i]`` (``LlamaDecoderLayer``: ``self_attn.{q,k,v,o}_proj``,
``mlp.{gate,up,down}_proj``, ``input_layernorm``, ``post_attention_layernorm``) and ``norm``; the
readout is ``lm_head`` (``get_output_embeddings()``), tied to ``embed_tokens`` when
``tie_word_embeddings``. ``attention_bias`` adds biases to q/k/v/o, ``mlp_bias`` to the MLP. The
attention scale is ``LlamaAttention.scaling = head_dim ** -0.5``; there is no logit, embedding or
residual multiplier, no qk-norm and no LayerNorm variant.

A mixture-of-experts recipe renders to ``Qwen3MoeForCausalLM`` (``transformers/models/qwen3_moe/
modeling_qwen3_moe.py``, 5.24): the same attention with ``self_attn.q_norm`` / ``k_norm`` (RMSNorm over
head_dim, always present), and in every layer (``decoder_sparse_step=1``, no ``mlp_only_layers``) a
``Qwen3MoeSparseMoeBlock`` ``mlp`` with the router ``mlp.gate`` (``Qwen3MoeTopKRouter``, a ``weight``
``[num_experts, hidden]``; softmax over the experts, top-k, renormalised when ``norm_topk_prob``) and the
routed experts fused into two 3-D parameters ``mlp.experts.gate_up_proj`` ``[E, 2·moe_intermediate_size,
hidden]`` and ``mlp.experts.down_proj`` ``[E, hidden, moe_intermediate_size]``. It has no shared expert;
the load-balancing loss is added (× ``router_aux_loss_coef``) when ``output_router_logits``.

``recipec inspect`` names each parameter's kind from this table — independently of
``recipec.torch``'s structural classifier, which the generated hook uses — so that a
misclassification there shows up as a difference.

Standard library only.
"""

from __future__ import annotations

import re

# First match wins.
KIND_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"^model\.embed_tokens\.weight$", "embedding"),
    (r"^lm_head\.weight$", "output"),
    (r"^model\.layers\.\d+\.self_attn\.q_proj\.weight$", "q"),
    (r"^model\.layers\.\d+\.self_attn\.k_proj\.weight$", "k"),
    (r"^model\.layers\.\d+\.self_attn\.v_proj\.weight$", "v"),
    (r"^model\.layers\.\d+\.self_attn\.o_proj\.weight$", "o"),
    (r"^model\.layers\.\d+\.mlp\.(gate|up)_proj\.weight$", "mlp_in"),
    (r"^model\.layers\.\d+\.mlp\.down_proj\.weight$", "mlp_out"),
    (r"^model\.layers\.\d+\.mlp\.experts\.gate_up_proj$", "expert_in"),
    (r"^model\.layers\.\d+\.mlp\.experts\.down_proj$", "expert_out"),
    (r"^model\.layers\.\d+\.mlp\.gate\.weight$", "router"),
    (r"^model\.layers\.\d+\.self_attn\.[qk]_norm\.weight$", "qk_norm"),
    (r"^model\.layers\.\d+\.(input_layernorm|post_attention_layernorm)\.weight$", "norm"),
    (r"^model\.norm\.weight$", "final_norm"),
    (r"\.bias$", "bias"),
)
_COMPILED = tuple((re.compile(p), k) for p, k in KIND_PATTERNS)


def kind_of(name: str) -> str | None:
    """The kind of a ``LlamaForCausalLM`` parameter, or None for a name the table does not document."""
    return next((k for rx, k in _COMPILED if rx.search(name)), None)


# The transformers classes hf_train.py builds, by whether the recipe is a mixture of experts.
MODEL_CLASSES: tuple[str, ...] = ("LlamaForCausalLM", "Qwen3MoeForCausalLM")


def model_class(resolved) -> str:
    """The transformers model class hf_train.py builds for ``resolved``."""
    return "Qwen3MoeForCausalLM" if getattr(resolved.shape, "num_experts", 0) else "LlamaForCausalLM"
