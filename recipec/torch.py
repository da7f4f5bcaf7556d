"""Runtime helper: split any torch model's parameters into recipec's kinds and build AdamW groups.

    from recipec.torch import param_groups
    groups = param_groups(model, "out/param_groups.json")     # or a Resolved
    optimizer = torch.optim.AdamW(groups, betas=groups[0]["betas"])

Every trainable parameter gets a *kind* (``recipec.kinds``: q, k, v, o, mlp_in, mlp_out, embedding,
output, norm, qk_norm, final_norm, bias) and through it a class. By the model's structure, first rule
that applies wins — never by a coincidence of sizes (a Linear whose out_features happens to equal the
vocabulary is not the readout):

1. ``overrides``: ``{regex: kind or class}`` matched (``re.search``) against the parameter name;
2. a weight owned by an ``nn.Embedding`` → ``embedding`` (also when the readout is tied to it);
3. the readout: the module the model declares with ``get_output_embeddings()`` (transformers), else a
   linear module with a documented readout name (``READOUT_NAMES``: nanoGPT's and HF's ``lm_head``,
   torchtitan's ``lm_head``/``output``, Megatron's ``output_layer``, gpt-neox's ``embed_out``) → ``output``;
4. parameters of a norm module (LayerNorm, RMSNorm, or a class whose name says norm): ``qk_norm``
   when the module is a query/key norm, ``final_norm`` when it sits outside every repeated block
   (no ``nn.ModuleList`` index in its path), else ``norm``;
5. any other 1-D parameter: a bias → ``bias``;
6. a 2-D weight of a linear-like module → the hidden kind its module name documents
   (``HIDDEN_NAMES``: q_proj / wq / query, …, down_proj / w2 / c_proj under ``mlp``); a fused
   q/k/v matrix (``c_attn``, ``wqkv``, ``qkv_proj``, …) is ``q`` (its k and v parts share its fan-in,
   which is what the built-in rules use). A hidden matrix whose name documents no kind is taken at
   its class's values, and ``param_groups`` warns (``KindGuessWarning``) when the recipe gives that
   class's kinds different values: pass an override to say which kind it is.

A model with no declared or documented readout gets a ``KindGuessWarning`` too (every Linear is then
taken for a hidden matrix): pass ``overrides={r'<name>': 'output'}`` if it has an untied readout.
Anything else raises ``UnclassifiedParameterError`` naming the parameter.

Only this module (and ``recipec.verify`` / ``recipec.inspect``) imports torch; the compiler never does.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from recipec.kinds import KIND_CLASS, KINDS, MULTIPLIER_OF, PARAM_CLASSES


# Documented readout module names (the last component of the module path).
READOUT_NAMES = ("lm_head", "output", "output_layer", "embed_out")
# Hidden kinds by the owning module's name (last path component); c_proj depends on its parent (see _hidden_kind).
HIDDEN_NAMES: dict[str, str] = {
    **dict.fromkeys(("q_proj", "wq", "query", "q"), "q"),
    **dict.fromkeys(("k_proj", "wk", "key", "k"), "k"),
    **dict.fromkeys(("v_proj", "wv", "value", "v"), "v"),
    **dict.fromkeys(("c_attn", "wqkv", "qkv_proj", "qkv", "query_key_value", "linear_qkv", "Wqkv"), "q"),
    **dict.fromkeys(("o_proj", "wo", "out_proj", "dense", "linear_proj", "o"), "o"),
    **dict.fromkeys(("gate_proj", "up_proj", "gate_up_proj", "w1", "w3", "c_fc", "fc1", "linear_fc1",
                     "dense_h_to_4h", "gate", "up"), "mlp_in"),
    **dict.fromkeys(("down_proj", "w2", "fc2", "linear_fc2", "dense_4h_to_h", "down"), "mlp_out"),
}
QK_NORM_NAMES = ("q_norm", "k_norm", "q_layernorm", "k_layernorm", "query_layernorm", "key_layernorm")

# Kept for callers of earlier versions: linear layers whose output is added to the residual stream.
BRANCH_OUT = r"(^|\.)(o_proj|down_proj|wo|w2|c_proj|out_proj|dense_4h_to_h|linear_proj|linear_fc2)\.weight$"


class UnclassifiedParameterError(ValueError):
    """A parameter that none of the rules or overrides assigns to a kind."""


class KindGuessWarning(UserWarning):
    """recipec had to guess a parameter's kind; pass ``overrides`` to say it."""


# --------------------------------------------------------------------------- settings


def _settings(recipe) -> dict[str, Any]:
    """Per-kind settings from a Resolved, a param_groups.json path, or its parsed dict."""
    if isinstance(recipe, (str, Path)):
        recipe = json.loads(Path(recipe).read_text(encoding="utf-8"))
    if isinstance(recipe, Mapping):
        classes = {c: dict(recipe["classes"][c]) for c in PARAM_CLASSES}
        kinds = {k: dict(v) for k, v in recipe.get("kinds", {}).items()}
        return {"classes": classes, "kinds": kinds, "betas": tuple(recipe["optimizer"]["betas"]),
                "multipliers": dict(recipe["multipliers"])}
    r = recipe  # recipec.resolved.Resolved
    classes = {c: r.coupled(c)._asdict() for c in PARAM_CLASSES}
    kinds = {k: r.kind_coupled(k)._asdict() for k in r.kinds}
    m = r.multipliers
    return {"classes": classes, "kinds": kinds, "betas": tuple(r.optimizer.betas),
            "multipliers": {"output": m.output_multiplier.value, "embedding": m.embedding_multiplier.value,
                            "residual": m.residual_multiplier.value, "attn_logit_scale": m.attn_logit_scale.value}}


def _values(settings: dict[str, Any], kind: str) -> dict[str, Any]:
    """A kind's numbers (its class's where the kind has none of its own, or ``kind`` is a class)."""
    if kind in settings["kinds"]:
        return settings["kinds"][kind]
    return settings["classes"][KIND_CLASS.get(kind, kind)]


# --------------------------------------------------------------------------- classification


def _is_norm(module: nn.Module) -> bool:
    return isinstance(module, (nn.LayerNorm, nn.GroupNorm, nn.RMSNorm)) or "norm" in type(module).__name__.lower()


def _is_linear(module: nn.Module) -> bool:
    return isinstance(module, nn.Linear) or (hasattr(module, "weight") and not _is_norm(module)
                                             and not isinstance(module, nn.Embedding))


def _declared_readout(model: nn.Module) -> nn.Module | None:
    get_out = getattr(model, "get_output_embeddings", None)
    if callable(get_out):
        try:
            return get_out()
        except (NotImplementedError, AttributeError):
            return None
    return None


def _in_repeated_block(path: str, model: nn.Module) -> bool:
    """Whether a module path runs through an ``nn.ModuleList`` (a repeated block), e.g. ``layers.3.…``."""
    module = model
    for part in path.split("."):
        if isinstance(module, (nn.ModuleList, nn.ModuleDict)) and part.isdigit():
            return True
        module = getattr(module, part, None)
        if module is None:
            return False
    return False


def _hidden_kind(path: str) -> str | None:
    parts = path.split(".")
    leaf = parts[-1]
    if leaf == "c_proj":  # nanoGPT: attn.c_proj is the attention output, mlp.c_proj the down-projection
        parent = parts[-2] if len(parts) > 1 else ""
        return "o" if "attn" in parent else "mlp_out" if "mlp" in parent else None
    return HIDDEN_NAMES.get(leaf)


def classify_kinds(model: nn.Module, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """{parameter name: kind} for every trainable parameter (tied weights once, first name).

    A value that is a class name rather than a kind (``hidden`` for an undocumented matrix, or an
    override by class) means "this class's values".
    """
    overrides = dict(overrides or {})
    for what in overrides.values():
        if what not in KINDS and what not in PARAM_CLASSES:
            raise ValueError(f"override {what!r} is not one of the kinds ({', '.join(KINDS)}) or classes "
                             f"({', '.join(PARAM_CLASSES)})")
    compiled = [(re.compile(p), c) for p, c in overrides.items()]
    owners: dict[int, list[tuple[str, nn.Module]]] = {}
    for mname, module in model.named_modules():
        for p in module.parameters(recurse=False):
            owners.setdefault(id(p), []).append((mname, module))
    readout = _declared_readout(model)
    if readout is None:
        readout = next((m for n, m in model.named_modules() if n.split(".")[-1] in READOUT_NAMES
                        and _is_linear(m) and not _in_repeated_block(n, model)), None)
    if readout is None and "output" not in overrides.values():
        warnings.warn("recipec.torch: the model declares no readout (no get_output_embeddings(), no module named "
                      f"{', '.join(READOUT_NAMES)}); every linear is taken for a hidden matrix — pass "
                      "overrides={r'<name>': 'output'} if the model has an untied readout", KindGuessWarning,
                      stacklevel=3)
    result: dict[str, str] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        mods = owners.get(id(p), [])
        kind = next((c for rx, c in compiled if rx.search(name)), None)
        if kind is None:
            kind = _structural_kind(model, name, p, mods, readout)
        if kind is None:
            kinds = ", ".join(sorted({type(m).__name__ for _, m in mods})) or "?"
            raise UnclassifiedParameterError(
                f"recipec cannot classify parameter {name!r} (shape {tuple(p.shape)}, module {kinds}); "
                f"pass overrides={{r'<regex>': '<kind or class>'}} (kinds: {', '.join(KINDS)})")
        result[name] = kind
    return result


def _structural_kind(model: nn.Module, name: str, p: torch.Tensor, mods, readout) -> str | None:
    leaf = name.rsplit(".", 1)[-1]
    if any(isinstance(m, nn.Embedding) for _, m in mods):
        return "embedding"
    if readout is not None and any(m is readout for _, m in mods):
        return "output" if leaf == "weight" else "bias"
    norm = next(((n, m) for n, m in mods if _is_norm(m)), None)
    if norm is not None:
        path = norm[0]
        if path.split(".")[-1] in QK_NORM_NAMES:
            return "qk_norm"
        return "norm" if _in_repeated_block(path, model) else "final_norm"
    if p.ndim <= 1:
        return "bias" if leaf == "bias" or leaf.endswith("bias") else None
    if p.ndim == 2 and leaf == "weight":
        path = next((n for n, m in mods if _is_linear(m)), None)
        if path is None:
            return None
        return _hidden_kind(path) or "hidden"
    return None


def classify(model: nn.Module, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """{parameter name: class} for every trainable parameter (tied weights once, first name)."""
    return {n: KIND_CLASS.get(k, k) for n, k in classify_kinds(model, overrides).items()}


# --------------------------------------------------------------------------- groups and init


def _lowering(kind: str, settings: dict[str, Any], names_tied: bool, lower: bool) -> float:
    """The forward multiplier folded into a weight of ``kind`` (1.0: none)."""
    if not lower or kind not in MULTIPLIER_OF or names_tied:
        return 1.0
    key = {"output_multiplier": "output", "embedding_multiplier": "embedding",
           "residual_multiplier": "residual"}[MULTIPLIER_OF[kind]]
    return float(settings["multipliers"][key])


def _warn_undocumented(kinds: dict[str, str], settings: dict[str, Any]) -> None:
    differing = {KIND_CLASS[o] for o, v in settings["kinds"].items() if v != settings["classes"][KIND_CLASS[o]]}
    vague = [n for n, k in kinds.items() if k not in KINDS and k in differing]
    if vague:
        warnings.warn(f"recipec.torch: {len(vague)} parameters ({', '.join(vague[:3])}{', …' if len(vague) > 3 else ''}) "
                      "have no documented kind and get their class's values, but the recipe gives that class's kinds "
                      "different values: pass overrides={r'<regex>': '<kind>'}", KindGuessWarning, stacklevel=3)


def _tied(model: nn.Module) -> bool:
    emb = [m.weight for m in model.modules() if isinstance(m, nn.Embedding)]
    readout = _declared_readout(model)
    return readout is not None and any(getattr(readout, "weight", None) is w for w in emb)


def param_groups(model: nn.Module, recipe, *, overrides: Mapping[str, str] | None = None,
                 lower_multipliers: bool = False, branch_out: str | None = None) -> list[dict[str, Any]]:
    """AdamW parameter groups (coupled weight decay) for ``model`` from a Resolved or param_groups.json.

    One group per kind present (in ``recipec.kinds.KINDS`` order), each carrying ``name`` (the kind),
    ``cls``, ``params``, ``param_names``, ``lr``, ``weight_decay``, ``eps``, ``betas`` and ``lowered``
    (the multiplier folded in). With ``lower_multipliers`` the output, embedding and residual
    multipliers, which most model code cannot apply, are folded into the weights they act on (an
    untied readout and embedding; the residual branches' output projections o and mlp_out): LR × c,
    eps and coupled WD ÷ c; re-initialise those weights with ``init_std(model, recipe, ...)`` when
    training from scratch. ``branch_out`` is accepted for compatibility and ignored (kinds decide).
    """
    settings = _settings(recipe)
    kinds = classify_kinds(model, overrides)
    _warn_undocumented(kinds, settings)
    params = dict(model.named_parameters())
    tied = _tied(model)
    groups: dict[str, dict[str, Any]] = {}
    for name, kind in kinds.items():
        if kind not in groups:
            s = _values(settings, kind)
            c = _lowering(kind, settings, tied and kind == "embedding", lower_multipliers)
            groups[kind] = {"name": kind, "cls": KIND_CLASS.get(kind, kind), "params": [], "param_names": [],
                            "lr": s["lr"] * c, "weight_decay": s["weight_decay"] / c, "eps": s["eps"] / c,
                            "betas": settings["betas"], "lowered": c}
        groups[kind]["params"].append(params[name])
        groups[kind]["param_names"].append(name)
    order = dict.fromkeys(KINDS + PARAM_CLASSES)  # kinds, then a class for parameters taken at their class's values
    return [groups[k] for k in order if k in groups]


@torch.no_grad()
def init_std(model: nn.Module, recipe, *, overrides: Mapping[str, str] | None = None,
             lower_multipliers: bool = False, branch_out: str | None = None) -> dict[str, float]:
    """Re-initialise every matrix with its kind's init std (normal); returns {name: std}. Vectors untouched."""
    settings = _settings(recipe)
    params = dict(model.named_parameters())
    tied = _tied(model)
    used = {}
    for name, kind in classify_kinds(model, overrides).items():
        if KIND_CLASS.get(kind, kind) == "vector":
            continue
        std = _values(settings, kind).get("init_std")
        if std is None:
            continue
        std *= _lowering(kind, settings, tied and kind == "embedding", lower_multipliers)
        params[name].normal_(0.0, std)
        used[name] = std
    return used


def class_counts(model: nn.Module, overrides: Mapping[str, str] | None = None) -> dict[str, int]:
    """How many parameter tensors fall in each class (for checks and tests)."""
    counts = {c: 0 for c in PARAM_CLASSES}
    for cls in classify(model, overrides).values():
        counts[cls] += 1
    return counts


def kind_counts(model: nn.Module, overrides: Mapping[str, str] | None = None) -> dict[str, int]:
    """How many parameter tensors fall in each kind."""
    counts: dict[str, int] = {}
    for kind in classify_kinds(model, overrides).values():
        counts[kind] = counts.get(kind, 0) + 1
    return counts


__all__ = ["classify", "classify_kinds", "param_groups", "init_std", "class_counts", "kind_counts",
           "UnclassifiedParameterError", "KindGuessWarning", "READOUT_NAMES", "HIDDEN_NAMES",
           "BRANCH_OUT"]
