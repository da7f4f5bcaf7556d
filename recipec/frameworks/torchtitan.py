"""torchtitan 0.3.0's Llama3 and Qwen3 (MoE) blocks: which parameter is which kind (``recipec.kinds``), by name.

Everything here is read off the pinned torchtitan 0.3.0 wheel (paths below are inside the installed
``torchtitan`` package); the renderer builds its ``ParamGroupConfig`` patterns from it and
``recipec.inspect.torchtitan`` names the kind of each parameter it reads back with it.

Parameter names (``Llama3Model.named_parameters()``):

- ``tok_embeddings.weight``, ``layers.N.*``, ``norm.weight``, ``lm_head.weight``: the decoder's own
  modules (models/common/decoder.py:197-204). With ``enable_weight_tying`` the embedding's weight *is*
  ``lm_head.weight`` (decoder.py:206-208, re-tied before init at decoder.py:215-221); torch's
  ``named_parameters`` reports the shared tensor once, under ``tok_embeddings.weight`` (registered first),
  and there is no ``output`` kind.
- A block (models/llama3/model.py:36-40): ``attention``, ``feed_forward``, ``attention_norm``,
  ``ffn_norm``.
- ``attention`` (GQAttention, models/common/attention.py:964-973): ``qkv_linear``, ``wo``, and with a
  qk-norm ``q_norm`` / ``k_norm`` (both built from one ``qk_norm`` config, attention.py:972-973).
- ``qkv_linear``: fused (FusedQKVLinear, attention.py:814) one ``wqkv`` holding q, k and v (rows grouped
  per kv head, config_utils.py:231-248); unfused (QKVLinear, attention.py:756-758) ``wq`` from the
  ``wq`` config and ``wk`` *and* ``wv`` both from the one ``wkv`` config — so k and v can get their own
  optimizer group (by name) but not their own init. ``make_gqa_config(fuse_qkv=False)`` gives ``wq``
  and ``wkv`` the same ``wqkv_param_init`` (config_utils.py:249-262); a different k/v init is set on
  ``qkv_linear.wkv`` afterwards.
- ``feed_forward`` (FeedForward, models/common/feed_forward.py:49-54): ``w2(silu(w1 x) · w3 x)``; w1 and
  w3 are the MLP's input projections, w2 its output projection.
- Llama3's linears have no bias (``Linear.Config.bias = False``, models/common/linear.py:33).

Mixture of experts (a recipe with ``model.moe``): the renderer builds ``Qwen3Model`` /
``Qwen3TransformerBlock`` (models/qwen3/model.py:23-66, 69-119), whose block holds ``moe`` instead of
``feed_forward`` (model.py:43-49); the attention, norms, embedding and lm_head are the Llama3 ones above.
``moe`` (MoE, models/common/moe.py:345-401) holds:

- ``moe.routed_experts.inner_experts.w1_EFD`` / ``w3_EFD`` ``(E, F, D)`` and ``w2_EDF`` ``(E, D, F)``
  (GroupedExperts, moe.py:45-53): 3-D parameters, no ``.weight`` suffix; w1/w3 are the experts' gate and
  up projections (kind ``expert_in``), w2 the down projection (``expert_out``), computed as
  ``w2(silu(w1 x) · w3 x)`` per expert (moe.py:94-108).
- ``moe.router.gate.weight`` ``(E, D)`` (TokenChoiceTopKRouter, moe.py:215; a bias-free Linear,
  config_utils.py:329-350): kind ``router``.
- ``moe.shared_experts.w1|w2|w3.weight``: one FeedForward (moe.py:378-380), added to the routed output
  (moe.py:455-460): kinds ``shared_in`` (w1, w3) and ``shared_out`` (w2). ``S`` shared experts of hidden
  ``F`` are one SwiGLU of hidden ``S·F`` (the concatenation; recipec.kinds treats them so).
- buffers only: ``moe.tokens_per_expert_E`` and, with ``load_balance_coeff``, ``moe.expert_bias_E``
  (moe.py:386-401) — not parameters, never in an optimizer group.

Optimizer groups (components/optimizer/optimizer.py:187-205): each ``ParamGroupConfig.pattern`` is
``re.search``-ed against the names, in order, first match wins, and a pattern that matches nothing is an
error — so a group is only written for kinds the model has. Names keep wrapper segments
(``layers.N._checkpoint_wrapped_module.…`` under activation checkpointing, ``_orig_mod`` under
``torch.compile``): the patterns match on name suffixes.

Attention softmax scale: ``head_dim ** -0.5`` when the config gives ``head_dim`` (attention.py:976),
otherwise the inner attention's default ``1/sqrt(q.size(-1))`` — the same number.

Standard library only.
"""

from __future__ import annotations

import re

from recipec.kinds import KINDS

VERSION = "0.3.0"

# kind -> the module paths (dotted, regex-escaped, relative to the model or a block) whose ``weight`` it is.
# q/k/v: the fused layout has one matrix for all three (reported as kind q); see QKV_FUSED.
MODULES_FUSED: dict[str, tuple[str, ...]] = {
    "q": (r"attention\.qkv_linear\.wqkv",),
    "o": (r"attention\.wo",),
    "mlp_in": (r"feed_forward\.w1", r"feed_forward\.w3"),
    "mlp_out": (r"feed_forward\.w2",),
    "embedding": (r"tok_embeddings",),
    "output": (r"lm_head",),
    "norm": (r"attention_norm", r"ffn_norm"),
    "qk_norm": (r"attention\.q_norm", r"attention\.k_norm"),
    "final_norm": (r"norm",),  # the decoder's own ``norm``: every block norm has a prefix before ``_norm``
}
MODULES_UNFUSED: dict[str, tuple[str, ...]] = {
    **{k: v for k, v in MODULES_FUSED.items() if k != "q"},
    "q": (r"attention\.qkv_linear\.wq",),
    "k": (r"attention\.qkv_linear\.wk",),
    "v": (r"attention\.qkv_linear\.wv",),
}
# MoE kinds -> full parameter-name suffixes (regex-escaped): the experts are parameters of GroupedExperts itself.
PARAMS_MOE: dict[str, tuple[str, ...]] = {
    "expert_in": (r"moe\.routed_experts\.inner_experts\.w1_EFD", r"moe\.routed_experts\.inner_experts\.w3_EFD"),
    "expert_out": (r"moe\.routed_experts\.inner_experts\.w2_EDF",),
    "shared_in": (r"moe\.shared_experts\.w1\.weight", r"moe\.shared_experts\.w3\.weight"),
    "shared_out": (r"moe\.shared_experts\.w2\.weight",),
    "router": (r"moe\.router\.gate\.weight",),
}
QKV_FUSED = "q"  # the kind the fused wqkv is reported as (it holds q, k and v)
# module name -> the further kinds its one weight holds (recipec.inspect.observed.ParamRow.fused)
FUSED_WITH: dict[str, tuple[str, ...]] = {"wqkv": ("k", "v")}


def module_kinds(*, fused_qkv: bool, tied: bool, qk_norm: bool, moe: bool = False,
                 shared_experts: bool = False) -> tuple[str, ...]:
    """The kinds a torchtitan Llama3 (``moe``: Qwen3 MoE, with ``shared_experts`` or not) built this way has
    parameters of, in ``recipec.kinds.KINDS`` order."""
    table = MODULES_FUSED if fused_qkv else MODULES_UNFUSED
    present = set(table) - ({"output"} if tied else set()) - (set() if qk_norm else {"qk_norm"})
    if moe:
        present = (present - {"mlp_in", "mlp_out"}) | {"expert_in", "expert_out", "router"}
        if shared_experts:
            present |= {"shared_in", "shared_out"}
    return tuple(k for k in KINDS if k in present)


def pattern(kinds, *, fused_qkv: bool) -> str:
    """One ``ParamGroupConfig`` regex matching the parameters of ``kinds`` (anchored on a name suffix)."""
    table = MODULES_FUSED if fused_qkv else MODULES_UNFUSED
    if not any(k in PARAMS_MOE for k in kinds):
        mods = [m for k in kinds for m in table[k]]
        return r"(^|\.)(" + "|".join(mods) + r")\.weight$"
    names = [n for k in kinds for n in (PARAMS_MOE[k] if k in PARAMS_MOE else (m + r"\.weight" for m in table[k]))]
    return r"(^|\.)(" + "|".join(names) + r")$"


def _suffix(mod: str) -> re.Pattern:
    return re.compile(r"(^|\.)" + mod + r"\.weight$")


_WRAPPERS = re.compile(r"(^|\.)(_checkpoint_wrapped_module|_orig_mod|_fsdp_wrapped_module)(?=\.)")


def kind_of(name: str) -> str | None:
    """The kind of a torchtitan Llama3 / Qwen3-MoE parameter name (fused or unfused layout), ``None`` if not one
    of theirs.

    A tied model reports its shared weight as ``tok_embeddings.weight``: kind ``embedding``.
    """
    plain = _WRAPPERS.sub("", name).lstrip(".")
    for kind, params in PARAMS_MOE.items():
        for param in params:
            if re.search(r"(^|\.)" + param + "$", plain):
                return kind
    for kind, mods in (*MODULES_UNFUSED.items(), ("q", MODULES_FUSED["q"])):
        for mod in mods:
            if _suffix(mod).search(plain):
                return kind
    if plain.endswith(".bias"):  # none in Llama3 (linear.py:33); a Linear.Config(bias=True) edit would add them
        return "bias"
    return None


def fused_with(name: str) -> tuple[str, ...]:
    """The further kinds one parameter holds beyond ``kind_of(name)`` (the fused wqkv: k and v)."""
    parts = _WRAPPERS.sub("", name).split(".")
    return FUSED_WITH.get(parts[-2], ()) if len(parts) >= 2 and parts[-1] == "weight" else ()
