"""rebase(recipe, resolved): the recipe re-rooted at a resolved size, for transfer from an intermediate size."""

from __future__ import annotations

from recipec.kinds import PARAM_CLASSES
from recipec.recipe import Recipe
from recipec.resolved import Resolved


def rebase(recipe: Recipe, resolved: Resolved, *, keep_sizes: dict[str, Resolved] | None = None) -> Recipe:
    """A recipe whose proxy is ``resolved`` (every value pinned); its sizes are ``keep_sizes``, each as shape,
    batch and tokens. The original proxy is not kept (``proxy`` is not a size name).

    Used to re-resolve from an intermediate size (two-step transfer, round trips, verify rungs).
    """
    s = resolved.shape
    moe = None
    if recipe.model.moe is not None:  # the experts as resolved (count, top-k and size pinned)
        moe = recipe.model.moe.model_copy(update=dict(num_experts=s.num_experts, top_k=s.top_k,
                                                      expert_ffn_hidden=s.expert_ffn_hidden))
    model = recipe.model.model_copy(update=dict(
        width=s.width, depth=s.depth, heads=s.heads, head_dim=None, kv_heads=s.kv_heads,
        ffn_hidden=s.ffn_hidden, ffn_multiplier=None, ffn_multiple_of=1, seq_len=s.seq_len, moe=moe))
    per_class = {}
    for cls in PARAM_CLASSES:
        hp = resolved.classes[cls]
        per_class[cls] = {"lr": hp.lr.value, "weight_decay": hp.weight_decay.value, "eps": hp.eps.value}
    std = {cls: resolved.classes[cls].init_std.value for cls in ("hidden", "embedding", "output")}
    per_kind, per_kind_std = {}, {}
    for kind, k in resolved.kinds.items():  # a kind whose own ratios gave it other numbers keeps them (Muon's too)
        pinned = {hp: getattr(k, hp).value for hp in ("lr", "weight_decay", "eps") if getattr(k, hp) is not None}
        if pinned:
            per_kind[kind] = pinned
        if k.init_std is not None:
            per_kind_std[kind] = k.init_std.value
    m = resolved.multipliers
    data = recipe.model_dump(by_alias=True, exclude={"sizes"})
    data["model"] = model.model_dump()
    data["optimizer"]["per_class"] = per_class
    data["optimizer"]["per_kind"] = per_kind
    data["init"].update(per_class_std=std, per_kind_std=per_kind_std, output_multiplier=m.output_multiplier.value,
                        embedding_multiplier=m.embedding_multiplier.value,
                        residual_multiplier=m.residual_multiplier.value, attn_logit_scale=m.attn_logit_scale.value)
    data["batch"] = {"global_tokens": resolved.batch.global_tokens, "micro_batch": resolved.batch.micro_batch}
    data["run"] = {"tokens": resolved.derived.tokens}
    sizes = {}
    for name, other in (keep_sizes or {}).items():
        o = other.shape
        sizes[name] = {
            "model": {"width": o.width, "depth": o.depth, "heads": o.heads, "kv_heads": o.kv_heads,
                      "ffn_hidden": o.ffn_hidden, "seq_len": o.seq_len,
                      **({"num_experts": o.num_experts, "top_k": o.top_k, "expert_ffn_hidden": o.expert_ffn_hidden}
                         if o.moe else {})},
            "batch": {"global_tokens": other.batch.global_tokens},
            "run": {"tokens": other.derived.tokens},
        }
    data["sizes"] = sizes
    return Recipe.model_validate(data)
