"""Runtime helper: split any torch model's parameters into recipec's kinds and build its optimizers.

    from recipec.torch import optimizers, param_groups
    opt = optimizers(model, "out/param_groups.json")          # or a Resolved: Muon + AdamW, one object
    # AdamW-only recipes may also use the groups directly:
    groups = param_groups(model, "out/param_groups.json")
    optimizer = torch.optim.AdamW(groups, betas=groups[0]["betas"])

Every trainable parameter gets a *kind* (``recipec.kinds``: q, k, v, o, mlp_in, mlp_out, expert_in,
expert_out, shared_in, shared_out, embedding, output, router, norm, qk_norm, final_norm, bias) and
through it a class. By the model's structure, first rule that applies wins — never by a coincidence
of sizes (a Linear whose out_features happens to equal the vocabulary is not the readout, a matrix
with num_experts rows is not the router because of its rows):

1. ``overrides``: ``{regex: kind or class}`` matched (``re.search``) against the parameter name;
2. a weight owned by an ``nn.Embedding`` → ``embedding`` (also when the readout is tied to it);
3. the readout: the module the model declares with ``get_output_embeddings()`` (transformers), else a
   linear module with a documented readout name (``READOUT_NAMES``: nanoGPT's and HF's ``lm_head``,
   torchtitan's ``lm_head``/``output``, Megatron's ``output_layer``, gpt-neox's ``embed_out``) → ``output``;
4. parameters of a norm module (LayerNorm, RMSNorm, or a class whose name says norm): ``qk_norm``
   when the module is a query/key norm, ``final_norm`` when it sits outside every repeated block
   (no ``nn.ModuleList`` index in its path), else ``norm``;
5. a mixture-of-experts block (see below): ``expert_in`` / ``expert_out`` / ``shared_in`` /
   ``shared_out`` / ``router``;
6. any other 1-D parameter: a bias → ``bias``;
7. a 2-D weight of a linear-like module → the hidden kind its module name documents
   (``HIDDEN_NAMES``: q_proj / wq / query, …, down_proj / w2 / c_proj under ``mlp``); a fused
   q/k/v matrix (``c_attn``, ``wqkv``, ``qkv_proj``, …) is ``q`` (its k and v parts share its fan-in,
   which is what the built-in rules use). A hidden matrix whose name documents no kind is taken at
   its class's values, and ``param_groups`` warns (``KindGuessWarning``) when the recipe gives that
   class's kinds different values: pass an override to say which kind it is.

Mixture of experts (rule 5). A module is an *MoE block* when it has a child module named one of
``EXPERTS_NAMES`` (``experts``, ``routed_experts``, ``local_experts``). Inside such a block, by the
first path component below the block:

- ``experts`` / ``routed_experts`` / ``local_experts`` → the routed experts. Either fused 3-D
  parameters owned by that module (HF transformers 5 Qwen3-MoE / OLMoE / Mixtral ``experts.gate_up_proj``
  ``[E, 2·I, H]`` and ``experts.down_proj`` ``[E, H, I]``; torchtitan ``w1_EFD`` / ``w2_EDF`` / ``w3_EFD``),
  or one ``nn.Linear`` per expert in an ``nn.ModuleList`` (``experts.N.w1`` / ``w3`` / ``w2``, or
  ``gate_proj`` / ``up_proj`` / ``down_proj``, ``c_fc`` / ``c_proj``, ``fc1`` / ``fc2``,
  ``linear_fc1`` / ``linear_fc2``): the in-projection names (``EXPERT_IN_NAMES``) → ``expert_in``, the
  down-projection names (``EXPERT_OUT_NAMES``) → ``expert_out``;
- ``shared_expert`` / ``shared_experts`` / ``shared_mlp`` (``SHARED_NAMES``) → the shared experts,
  ``shared_in`` / ``shared_out`` by the same in/out names (all shared experts of a block are one MLP);
- ``router`` / ``gate`` (``ROUTER_NAMES``: HF ``mlp.gate`` (a ``TopKRouter`` holding ``weight``
  ``[E, H]``), Megatron ``mlp.router``, torchtitan ``moe.router.gate``) → ``router`` (its bias, if
  any, → ``bias``);
- anything else in the block (e.g. Qwen2-MoE's ``shared_expert_gate``) falls through to rules 6–7.

A plain-PyTorch MoE model is recognised when it is written like this (what ``recipec.verify``'s
reference model does)::

    class MoE(nn.Module):                      # any name; it is the block because it has .experts
        def __init__(self, d, fe, n, shared):
            self.router = nn.Linear(d, n, bias=False)              # or self.gate
            self.experts = nn.ModuleList(Expert(d, fe) for _ in range(n))
            self.shared_experts = Expert(d, shared * fe)            # optional
    class Expert(nn.Module):                   # w1 / w3 in, w2 out (or gate_proj, up_proj / down_proj)
        ...

Optimizers. A recipe with ``optimizer.muon`` trains the kinds Muon trains (``resolved.kinds[k].optimizer
== "muon"``; param_groups.json's ``kinds[k].optimizer``) with ``torch.optim.Muon`` and every other
kind with the main optimizer (AdamW or Adam); ``optimizers(model, recipe)`` builds both and returns
one ``Optimizers`` object (``step``, ``zero_grad``, ``state_dict``, ``param_groups`` spanning both, so
an LR scheduler scales every group). ``torch.optim.Muon`` takes 2-D matrices only: a 3-D fused expert
tensor in a Muon kind raises ``MuonShapeError`` naming it — it is never moved to AdamW.

A model with no declared or documented readout gets a ``KindGuessWarning`` too (every Linear is then
taken for a hidden matrix): pass ``overrides={r'<name>': 'output'}`` if it has an untied readout.
Anything else raises ``UnclassifiedParameterError`` naming the parameter.

Only this module (and ``recipec.verify`` / ``recipec.inspect``) imports torch; the compiler never does.

Over 300 lines on purpose: this is the one public runtime helper users import; structural classification,
parameter groups and the optimizers share its name tables.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from recipec.frameworks.optimizers import kind_values
from recipec.kinds import KIND_CLASS, KINDS, MULTIPLIER_OF, PARAM_CLASSES, REPRESENTATIVE

QK_NORM_NAMES = ("q_norm", "k_norm", "q_layernorm", "k_layernorm", "query_layernorm", "key_layernorm")
# Mixture of experts: a module with a child of one of these names is an MoE block.
EXPERTS_NAMES = ("experts", "routed_experts", "local_experts")
SHARED_NAMES = ("shared_expert", "shared_experts", "shared_mlp")
ROUTER_NAMES = ("router", "gate")
EXPERT_IN_NAMES = ("w1", "w3", "gate_proj", "up_proj", "gate_up_proj", "c_fc", "fc1", "linear_fc1", "gate", "up")
EXPERT_OUT_NAMES = ("w2", "down_proj", "c_proj", "fc2", "linear_fc2", "down")
# Fused q/k/v matrices: under Muon they are orthogonalised as one matrix (see optimizers()).
FUSED_QKV_NAMES = ("c_attn", "wqkv", "qkv_proj", "qkv", "query_key_value", "linear_qkv", "Wqkv")


# Documented readout module names (the last component of the module path).
READOUT_NAMES = ("lm_head", "output", "output_layer", "embed_out")
# Hidden kinds by the owning module's name (last path component); c_proj depends on its parent (see _hidden_kind).
HIDDEN_NAMES: dict[str, str] = {
    **dict.fromkeys(("q_proj", "wq", "query", "q"), "q"),
    **dict.fromkeys(("k_proj", "wk", "key", "k"), "k"),
    **dict.fromkeys(("v_proj", "wv", "value", "v"), "v"),
    **dict.fromkeys(FUSED_QKV_NAMES, "q"),
    **dict.fromkeys(("o_proj", "wo", "out_proj", "dense", "linear_proj", "o"), "o"),
    **dict.fromkeys(("gate_proj", "up_proj", "gate_up_proj", "w1", "w3", "c_fc", "fc1", "linear_fc1",
                     "dense_h_to_4h", "gate", "up"), "mlp_in"),
    **dict.fromkeys(("down_proj", "w2", "fc2", "linear_fc2", "dense_4h_to_h", "down"), "mlp_out"),
}
# Kept for callers of earlier versions: linear layers whose output is added to the residual stream.
BRANCH_OUT = r"(^|\.)(o_proj|down_proj|wo|w2|c_proj|out_proj|dense_4h_to_h|linear_proj|linear_fc2)\.weight$"


class UnclassifiedParameterError(ValueError):
    """A parameter that none of the rules or overrides assigns to a kind."""


class KindGuessWarning(UserWarning):
    """recipec had to guess a parameter's kind; pass ``overrides`` to say it."""


class MuonShapeError(ValueError):
    """A parameter of a Muon-trained kind that ``torch.optim.Muon`` cannot take (it needs 2-D matrices)."""


class MuonFusedWarning(UserWarning):
    """A fused matrix (q/k/v in one tensor) trains with Muon as one matrix, not as its parts."""


# --------------------------------------------------------------------------- settings


def _settings(recipe) -> dict[str, Any]:
    """Per-kind settings from a Resolved, a param_groups.json path, or its parsed dict.

    ``kinds[k]``: lr, weight_decay (coupled: w -= lr·wd·w, for Muon as for AdamW), eps (Adam's, or for a
    Muon kind Muon's Newton–Schulz eps), init_std and ``optimizer`` ("muon" or the main optimizer's name).
    """
    if isinstance(recipe, (str, Path)):
        recipe = json.loads(Path(recipe).read_text(encoding="utf-8"))
    if isinstance(recipe, Mapping):
        main = recipe["optimizer"]["name"]
        classes = {c: dict(recipe["classes"][c]) for c in PARAM_CLASSES}
        for v in classes.values():
            v.setdefault("optimizer", main)
        kinds = {k: {**v, "optimizer": v.get("optimizer", main)} for k, v in recipe.get("kinds", {}).items()}
        muon = recipe.get("muon")
        multipliers = dict(recipe["multipliers"])
        multipliers.setdefault("router", 1.0)
        return {"classes": classes, "kinds": kinds, "betas": tuple(recipe["optimizer"]["betas"]), "main": main,
                "muon": dict(muon) if muon else None, "multipliers": multipliers}
    r = recipe  # recipec.resolved.Resolved
    main = r.optimizer.name
    classes = {c: {**r.coupled(c)._asdict(), "optimizer": main} for c in PARAM_CLASSES}
    kinds = {k: {**kind_values(r, k), "optimizer": main if info.optimizer is None else info.optimizer}
             for k, info in r.kinds.items()}
    m = r.multipliers
    muon = None
    if r.muon is not None:
        muon = {"momentum": r.muon.momentum, "nesterov": r.muon.nesterov, "ns_steps": r.muon.ns_steps,
                "eps": r.muon.eps, "adjust_lr": r.muon.adjust_lr}
    return {"classes": classes, "kinds": kinds, "betas": tuple(r.optimizer.betas), "main": main, "muon": muon,
            "multipliers": {"output": m.output_multiplier.value, "embedding": m.embedding_multiplier.value,
                            "residual": m.residual_multiplier.value, "attn_logit_scale": m.attn_logit_scale.value,
                            "router": 1.0 if m.router_multiplier is None else m.router_multiplier.value}}


def _values(settings: dict[str, Any], kind: str) -> dict[str, Any]:
    """A kind's numbers (its class's where the kind has none of its own, or ``kind`` is a class).

    A parameter taken at its class's values trains with the main optimizer, unless every kind of that
    class in the recipe trains with Muon: then with Muon at the class's representative kind's values
    (``recipec.kinds.REPRESENTATIVE``; ``param_groups`` warns when the kinds differ)."""
    if kind in settings["kinds"]:
        return settings["kinds"][kind]
    cls = KIND_CLASS.get(kind, kind)
    members = [v for k, v in settings["kinds"].items() if KIND_CLASS.get(k) == cls]
    if members and all(v["optimizer"] == "muon" for v in members):
        return settings["kinds"].get(REPRESENTATIVE[cls], members[0])
    return settings["classes"][cls]


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


def _is_moe_block(module: nn.Module) -> bool:
    return any(isinstance(getattr(module, n, None), nn.Module) for n in EXPERTS_NAMES)


def _in_out(leaf: str) -> str | None:
    """'in' / 'out' for an expert's (or shared expert's) projection by its name (a torchtitan ``w1_EFD`` is ``w1``)."""
    leaf = re.sub(r"_[A-Z]+$", "", leaf)
    return "in" if leaf in EXPERT_IN_NAMES else "out" if leaf in EXPERT_OUT_NAMES else None


def _moe_kind(model: nn.Module, name: str, mods) -> str | None:
    """The MoE kind of a parameter inside an MoE block (see the module docstring), else None."""
    if not mods:
        return None
    parts = mods[0][0].split(".") if mods[0][0] else []
    leaf = name.rsplit(".", 1)[-1]
    # the innermost MoE block on the owning module's path
    module, blocks = model, []
    for i, part in enumerate(parts):
        if _is_moe_block(module):
            blocks.append(i)
        module = getattr(module, part, None)
        if module is None:
            return None
    if _is_moe_block(module):
        blocks.append(len(parts))
    if not blocks:
        return None
    rel = parts[blocks[-1]:]
    if not rel:
        return None  # a parameter of the block itself
    head = rel[0]
    if head in ROUTER_NAMES:
        return "bias" if leaf == "bias" or leaf.endswith("bias") else "router"
    if head in EXPERTS_NAMES or head in SHARED_NAMES:
        if leaf == "bias" or leaf.endswith("bias"):
            return "bias"
        # a fused expert tensor is named by itself (experts.gate_up_proj); a Linear by its module (experts.3.w1)
        side = None if re.fullmatch(r"weight\d*", leaf) else _in_out(leaf)
        if side is None:
            named = [q for q in rel[1:] if not q.isdigit() and q not in EXPERTS_NAMES]
            side = _in_out(named[-1]) if named else None
        if side is None:
            return None
        return ("expert_" if head in EXPERTS_NAMES else "shared_") + side
    return None


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
    moe = _moe_kind(model, name, mods)
    if moe is not None:
        return moe
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
           "residual_multiplier": "residual", "router_multiplier": "router"}[MULTIPLIER_OF[kind]]
    return float(settings["multipliers"].get(key, 1.0))


def _warn_undocumented(kinds: dict[str, str], settings: dict[str, Any]) -> None:
    differing = {KIND_CLASS[o] for o, v in settings["kinds"].items() if v != settings["classes"][KIND_CLASS[o]]}
    vague = [n for n, k in kinds.items() if k not in KINDS and k in differing]
    if vague:
        warnings.warn(f"recipec.torch: {len(vague)} parameters "
                      f"({', '.join(vague[:3])}{', …' if len(vague) > 3 else ''}) "
                      "have no documented kind and get their class's values, but the recipe gives that class's kinds "
                      "different values: pass overrides={r'<regex>': '<kind>'}", KindGuessWarning, stacklevel=3)


def _tied(model: nn.Module) -> bool:
    emb = [m.weight for m in model.modules() if isinstance(m, nn.Embedding)]
    readout = _declared_readout(model)
    return readout is not None and any(getattr(readout, "weight", None) is w for w in emb)


def param_groups(model: nn.Module, recipe, *, overrides: Mapping[str, str] | None = None,
                 lower_multipliers: bool = False, branch_out: str | None = None) -> list[dict[str, Any]]:
    """Optimizer parameter groups (coupled weight decay) for ``model`` from a Resolved or param_groups.json.

    One group per kind present (in ``recipec.kinds.KINDS`` order), each carrying ``name`` (the kind),
    ``cls``, ``optimizer`` ("muon", or the main optimizer: "adamw" / "adam"), ``params``,
    ``param_names``, ``lr``, ``weight_decay``, ``eps`` and ``lowered`` (the multiplier folded in); an
    AdamW/Adam group also ``betas``, a Muon group ``momentum``, ``nesterov``, ``ns_steps`` and
    ``adjust_lr_fn`` (``eps`` is then Muon's Newton–Schulz eps) — the keywords of ``torch.optim.Muon``.
    With ``lower_multipliers`` the output, embedding, residual (and router) multipliers, which most
    model code cannot apply, are folded into the weights they act on (an untied readout and
    embedding; the residual branches' output projections o, mlp_out, expert_out, shared_out): LR × c,
    coupled WD ÷ c and Adam's eps ÷ c (Muon's update ignores the gradient's scale, so its eps stays);
    re-initialise those weights with ``init_std(model, recipe, ...)`` when training from scratch.
    A recipe with Muon kinds needs two optimizers: use ``optimizers(model, recipe)``.
    ``branch_out`` is accepted for compatibility and ignored (kinds decide).
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
            group = {"name": kind, "cls": KIND_CLASS.get(kind, kind), "optimizer": s["optimizer"], "params": [],
                     "param_names": [], "lr": s["lr"] * c, "weight_decay": s["weight_decay"] / c}
            if s["optimizer"] == "muon":
                muon = settings["muon"]
                if muon is None:
                    raise ValueError(f"recipec.torch: kind {kind!r} trains with Muon, but the recipe has no "
                                     "Muon settings (param_groups.json 'muon' is missing)")
                group.update(eps=s["eps"], momentum=muon["momentum"], nesterov=muon["nesterov"],
                             ns_steps=muon["ns_steps"], adjust_lr_fn=muon["adjust_lr"])
            else:
                group.update(eps=s["eps"] / c, betas=settings["betas"])
            group["lowered"] = c
            groups[kind] = group
        groups[kind]["params"].append(params[name])
        groups[kind]["param_names"].append(name)
    order = dict.fromkeys(KINDS + PARAM_CLASSES)  # kinds, then a class for parameters taken at their class's values
    return [groups[k] for k in order if k in groups]


class Optimizers(torch.optim.Optimizer):
    """Several torch optimizers (Muon for the matrices, AdamW for the rest) as one.

    ``param_groups`` is every child's groups (the same dicts), so an LR scheduler or a Trainer scales
    every group; ``step``, ``zero_grad``, ``state_dict`` and ``load_state_dict`` act on each child.
    ``optimizers`` maps a name ("muon", "adamw", "adam") to the child.
    """

    def __init__(self, optimizers: Mapping[str, torch.optim.Optimizer]):
        self._ready = False
        self.optimizers = dict(optimizers)
        params = [p for o in self.optimizers.values() for g in o.param_groups for p in g["params"]]
        super().__init__(params, {})
        self._ready = True
        self.param_groups = [g for o in self.optimizers.values() for g in o.param_groups]
        from collections import ChainMap

        self.state = ChainMap(*(o.state for o in self.optimizers.values()))

    def optimizer_of(self, param: torch.Tensor) -> torch.optim.Optimizer:
        """The child optimizer that holds ``param``."""
        for o in self.optimizers.values():
            if any(p is param for g in o.param_groups for p in g["params"]):
                return o
        raise KeyError("parameter not in any optimizer")

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for o in self.optimizers.values():
            o.step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        for o in self.optimizers.values():
            o.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        return {"optimizers": {k: o.state_dict() for k, o in self.optimizers.items()}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved = state_dict["optimizers"]
        if set(saved) != set(self.optimizers):
            raise ValueError(f"optimizer state for {sorted(saved)}, but this run has {sorted(self.optimizers)}")
        for k, o in self.optimizers.items():
            o.load_state_dict(saved[k])

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if not getattr(self, "_ready", False):  # Optimizer.__init__'s own call
            return super().add_param_group(param_group)
        raise TypeError("recipec.torch.Optimizers: add the group to one of .optimizers")


def optimizers(model: nn.Module, recipe, *, overrides: Mapping[str, str] | None = None,
               lower_multipliers: bool = False) -> Optimizers:
    """``torch.optim.Muon`` for the Muon kinds and ``torch.optim.AdamW`` (``Adam`` for ``adam``) for the rest,
    from ``param_groups`` (same arguments), as one ``Optimizers``.

    Muon's groups carry their kind's lr and coupled weight decay and the recipe's momentum, nesterov,
    ns_steps, eps and ``adjust_lr_fn`` (= ``optimizer.muon.adjust_lr``). torch.optim.Muon takes 2-D
    matrices only: a Muon kind holding another shape (HF's fused 3-D experts) raises ``MuonShapeError``
    naming the parameters — it is not moved to AdamW. A fused q/k/v matrix trained by Muon is
    orthogonalised as one matrix, with the fused shape in ``adjust_lr_fn``: ``MuonFusedWarning``.
    """
    groups = param_groups(model, recipe, overrides=overrides, lower_multipliers=lower_multipliers)
    settings = _settings(recipe)
    main = settings["main"]
    if main not in ("adamw", "adam"):
        raise ValueError(f"recipec.torch.optimizers builds AdamW / Adam (and Muon), not {main!r}")
    muon_groups = [g for g in groups if g["optimizer"] == "muon"]
    other = [g for g in groups if g["optimizer"] != "muon"]
    wrong = [g["optimizer"] for g in other if g["optimizer"] != main]
    if wrong:
        raise ValueError(f"recipec.torch: a kind asks for optimizer {wrong[0]!r}; the recipe's are muon and {main}")
    bad = [f"{n} {tuple(p.shape)} ({g['name']})" for g in muon_groups for n, p in zip(g["param_names"], g["params"])
           if p.ndim != 2]
    if bad:
        raise MuonShapeError(
            f"recipec.torch: torch.optim.Muon trains 2-D matrices only, but {len(bad)} parameters of Muon kinds are "
            f"not 2-D: {', '.join(bad[:4])}{', …' if len(bad) > 4 else ''}. Build the model with one 2-D weight per "
            "expert, or leave these kinds out of optimizer.muon.kinds (they are not moved to AdamW silently)")
    fused = [n for g in muon_groups for n in g["param_names"] if "." in n and n.split(".")[-2] in FUSED_QKV_NAMES]
    if fused:
        warnings.warn(f"recipec.torch: {len(fused)} fused q/k/v matrices ({', '.join(fused[:2])}"
                      f"{', …' if len(fused) > 2 else ''}) train with Muon as one matrix: Newton–Schulz and "
                      "adjust_lr_fn see the fused shape, not q, k and v apart", MuonFusedWarning, stacklevel=2)
    children: dict[str, torch.optim.Optimizer] = {}
    if muon_groups:
        children["muon"] = torch.optim.Muon(muon_groups)
    if other:
        cls = torch.optim.AdamW if main == "adamw" else torch.optim.Adam
        children[main] = cls(other, betas=settings["betas"])
    return Optimizers(children)


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


__all__ = ["classify", "classify_kinds", "param_groups", "optimizers", "Optimizers", "kind_values", "init_std",
           "class_counts", "kind_counts", "UnclassifiedParameterError", "KindGuessWarning", "MuonShapeError",
           "MuonFusedWarning", "READOUT_NAMES", "HIDDEN_NAMES", "EXPERTS_NAMES", "SHARED_NAMES", "ROUTER_NAMES",
           "EXPERT_IN_NAMES", "EXPERT_OUT_NAMES", "BRANCH_OUT"]
