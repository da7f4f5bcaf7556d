"""Runtime helper: split any torch model's parameters into recipec's classes and build AdamW groups.

    from recipec.torch import param_groups
    groups = param_groups(model, "out/param_groups.json")     # or a Resolved
    optimizer = torch.optim.AdamW(groups, betas=groups[0]["betas"])

Classes (first rule that applies wins):

1. ``overrides``: ``{regex: class}`` matched (``re.search``) against the parameter name;
2. 1-D parameters (norm gains, biases, scalars) → ``vector``;
3. a weight owned by an ``nn.Embedding`` (also when tied to the readout) → ``embedding``;
4. the readout: a 2-D weight of a linear-like module whose output size is the vocabulary (an
   ``nn.Embedding``'s row count), or the module ``get_output_embeddings()`` returns → ``output``;
5. any other 2-D weight of ``nn.Linear`` or a linear-like module (``weight`` of a module that is not
   a norm, e.g. HF ``Conv1D``) → ``hidden``.

Anything else raises ``UnclassifiedParameterError`` naming the parameter: add an override.

Only this module (and ``recipec.verify``) imports torch; the compiler never does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

CLASSES = ("hidden", "embedding", "output", "vector")

# Linear layers whose output is added to the residual stream: where a residual multiplier is lowered.
BRANCH_OUT = r"(^|\.)(o_proj|down_proj|wo|w2|c_proj|out_proj|dense_4h_to_h|linear_proj|linear_fc2)\.weight$"


class UnclassifiedParameterError(ValueError):
    """A parameter that none of the rules or overrides assigns to a class."""


def _settings(recipe) -> dict[str, Any]:
    """Per-class settings from a Resolved, a param_groups.json path, or its parsed dict."""
    if isinstance(recipe, (str, Path)):
        recipe = json.loads(Path(recipe).read_text(encoding="utf-8"))
    if isinstance(recipe, Mapping):
        classes = {c: dict(recipe["classes"][c]) for c in CLASSES}
        return {"classes": classes, "betas": tuple(recipe["optimizer"]["betas"]),
                "multipliers": dict(recipe["multipliers"])}
    r = recipe  # recipec.resolved.Resolved
    classes = {c: r.coupled(c)._asdict() for c in CLASSES}
    m = r.multipliers
    return {"classes": classes, "betas": tuple(r.optimizer.betas),
            "multipliers": {"output": m.output_multiplier.value, "embedding": m.embedding_multiplier.value,
                            "residual": m.residual_multiplier.value, "attn_logit_scale": m.attn_logit_scale.value}}


def _vocab_sizes(model: nn.Module) -> set[int]:
    return {m.num_embeddings for m in model.modules() if isinstance(m, nn.Embedding)}


def _is_norm(module: nn.Module) -> bool:
    return isinstance(module, (nn.LayerNorm, nn.GroupNorm, nn.RMSNorm)) or "norm" in type(module).__name__.lower()


def classify(model: nn.Module, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """{parameter name: class} for every trainable parameter (tied weights once, first name)."""
    overrides = dict(overrides or {})
    for cls in overrides.values():
        if cls not in CLASSES:
            raise ValueError(f"override class {cls!r} is not one of {', '.join(CLASSES)}")
    compiled = [(re.compile(p), c) for p, c in overrides.items()]
    owners: dict[int, list[nn.Module]] = {}
    for module in model.modules():
        for p in module.parameters(recurse=False):
            owners.setdefault(id(p), []).append(module)
    readout = None
    get_out = getattr(model, "get_output_embeddings", None)
    if callable(get_out):
        try:
            readout = get_out()
        except (NotImplementedError, AttributeError):
            readout = None
    vocab = _vocab_sizes(model)
    result: dict[str, str] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        mods = owners.get(id(p), [])
        cls = next((c for rx, c in compiled if rx.search(name)), None)
        if cls is None:
            if p.ndim <= 1:
                cls = "vector"
            elif any(isinstance(m, nn.Embedding) for m in mods):
                cls = "embedding"
            elif p.ndim == 2 and name.endswith("weight") and not any(_is_norm(m) for m in mods):
                is_readout = readout is not None and any(m is readout for m in mods)
                out_features = p.shape[0] if any(isinstance(m, nn.Linear) for m in mods) else p.shape[-1]
                cls = "output" if is_readout or out_features in vocab else "hidden"
        if cls is None:
            kinds = ", ".join(sorted({type(m).__name__ for m in mods})) or "?"
            raise UnclassifiedParameterError(
                f"recipec cannot classify parameter {name!r} (shape {tuple(p.shape)}, module {kinds}); "
                f"pass overrides={{r'<regex>': 'hidden|embedding|output|vector'}}")
        result[name] = cls
    return result


def param_groups(model: nn.Module, recipe, *, overrides: Mapping[str, str] | None = None,
                 lower_multipliers: bool = False, branch_out: str = BRANCH_OUT) -> list[dict[str, Any]]:
    """AdamW parameter groups (coupled weight decay) for ``model`` from a Resolved or param_groups.json.

    Each group carries ``name`` (the class), ``params``, ``param_names``, ``lr``, ``weight_decay``,
    ``eps`` and ``betas``; classes without parameters are left out. With ``lower_multipliers`` the
    output and residual multipliers, which most model code cannot apply, are folded into the
    weights' LR / eps / WD (the readout, and linears matching ``branch_out``); re-initialise those
    weights with ``init_std(model, recipe, ...)`` when training from scratch.
    """
    settings = _settings(recipe)
    classes = classify(model, overrides)
    mult = settings["multipliers"]
    params = dict(model.named_parameters())
    branch_rx = re.compile(branch_out)
    groups: dict[str, dict[str, Any]] = {}
    for name, cls in classes.items():
        key, scale = cls, 1.0
        if lower_multipliers and cls == "output" and mult["output"] != 1.0:
            key, scale = "output", mult["output"]
        elif lower_multipliers and cls == "hidden" and mult["residual"] != 1.0 and branch_rx.search(name):
            key, scale = "hidden_branch_out", mult["residual"]
        if key not in groups:
            s = settings["classes"][cls]
            groups[key] = {"name": key, "params": [], "param_names": [], "lr": s["lr"] * scale,
                           "weight_decay": s["weight_decay"] / scale, "eps": s["eps"] / scale,
                           "betas": settings["betas"]}
        groups[key]["params"].append(params[name])
        groups[key]["param_names"].append(name)
    order = ("hidden", "hidden_branch_out", "embedding", "output", "vector")
    return [groups[k] for k in order if k in groups]


@torch.no_grad()
def init_std(model: nn.Module, recipe, *, overrides: Mapping[str, str] | None = None,
             lower_multipliers: bool = False, branch_out: str = BRANCH_OUT) -> dict[str, float]:
    """Re-initialise every matrix with its class's init std (normal); returns {name: std}. Vectors untouched."""
    settings = _settings(recipe)
    mult = settings["multipliers"]
    branch_rx = re.compile(branch_out)
    params = dict(model.named_parameters())
    used = {}
    for name, cls in classify(model, overrides).items():
        std = settings["classes"][cls].get("init_std")
        if std is None or cls == "vector":
            continue
        if lower_multipliers and cls == "output":
            std *= mult["output"]
        elif lower_multipliers and cls == "hidden" and branch_rx.search(name):
            std *= mult["residual"]
        params[name].normal_(0.0, std)
        used[name] = std
    return used


def class_counts(model: nn.Module, overrides: Mapping[str, str] | None = None) -> dict[str, int]:
    """How many parameter tensors fall in each class (for checks and tests)."""
    counts = {c: 0 for c in CLASSES}
    for cls in classify(model, overrides).values():
        counts[cls] += 1
    return counts
