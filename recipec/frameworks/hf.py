"""Hugging Face transformers 5.x ``LlamaForCausalLM``: its parameter names and what kind each one is.

Names from ``transformers/models/llama/modeling_llama.py`` (5.24): ``LlamaForCausalLM.model`` is a
``LlamaModel`` with ``embed_tokens``, ``layers[i]`` (``LlamaDecoderLayer``: ``self_attn.{q,k,v,o}_proj``,
``mlp.{gate,up,down}_proj``, ``input_layernorm``, ``post_attention_layernorm``) and ``norm``; the
readout is ``lm_head`` (``get_output_embeddings()``), tied to ``embed_tokens`` when
``tie_word_embeddings``. ``attention_bias`` adds biases to q/k/v/o, ``mlp_bias`` to the MLP. The
attention scale is ``LlamaAttention.scaling = head_dim ** -0.5``; there is no logit, embedding or
residual multiplier, no qk-norm and no LayerNorm variant.

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
    (r"^model\.layers\.\d+\.(input_layernorm|post_attention_layernorm)\.weight$", "norm"),
    (r"^model\.norm\.weight$", "final_norm"),
    (r"\.bias$", "bias"),
)
_COMPILED = tuple((re.compile(p), k) for p, k in KIND_PATTERNS)


def kind_of(name: str) -> str | None:
    """The kind of a ``LlamaForCausalLM`` parameter, or None for a name the table does not document."""
    return next((k for rx, k in _COMPILED if rx.search(name)), None)
