"""The resolved recipe: every hyperparameter at one size with its provenance, plus derived figures.

This is what lint, render and verify consume. Frozen pydantic models, so it serialises to
``resolved.json`` deterministically and templates cannot mutate it.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict

from recipec.diagnostics import Diagnostic
from recipec.kinds import PARAM_CLASSES
from recipec.shape import Shape


def convert_weight_decay(wd: float, lr: float, frm: str, to: str) -> float:
    """Coupled λ (w -= η·λ·w, torch AdamW) ↔ independent λ' (w -= λ'·w): λ' = η·λ."""
    if frm == to:
        return wd
    if (frm, to) == ("coupled", "independent"):
        return wd * lr
    return wd / lr if lr else 0.0


def adamw_timescale(lr: float, coupled_wd: float) -> float | None:
    """AdamW's EMA timescale τ = 1/(η·λ) in steps, λ in the coupled form (None without weight decay).

    Wang & Aitchison 2024 (arXiv:2405.13698): the weights average the last ~τ updates.
    """
    return 1.0 / (lr * coupled_wd) if coupled_wd > 0 else None


class CoupledClass(NamedTuple):
    """One class's AdamW settings in torch's coupled convention (what every framework takes)."""

    lr: float
    weight_decay: float
    eps: float
    init_std: float | None


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Step(_Frozen):
    """One link of a provenance chain."""

    kind: Literal["proxy", "power", "fixed", "formula", "convert", "override"]
    ruleset: str | None = None  # rule-set name
    file: str | None = None  # rule-set file or recipe file
    axis: str | None = None
    # a width rule on the kind's own fan ratio (None: width m)
    dim: Literal["fan_in", "fan_out", "spectral"] | None = None
    ratio: float | None = None
    exponent: float | None = None
    factor: float | None = None  # what the value was multiplied by
    value: float  # the value after this step
    note: str = ""


class Value(_Frozen):
    """A resolved number and how it was obtained."""

    value: float
    proxy: float
    chain: tuple[Step, ...]

    @property
    def transferred(self) -> bool:
        return any(s.kind in ("power", "fixed", "formula") for s in self.chain)


class ClassHParams(_Frozen):
    lr: Value
    weight_decay: Value
    eps: Value
    init_std: Value | None  # None for vectors (norm gains start at 1, biases at 0)


class KindHParams(_Frozen):
    """One parameter kind (``recipec.kinds``): its class, its fan ratios, and the values that differ from
    its class's (``None``: the class's value holds)."""

    cls: str
    fan_in_ratio: float
    fan_out_ratio: float
    optimizer: Literal["muon"] | None = None  # "muon" when Muon trains this kind (then lr and weight_decay are set)
    lr: Value | None = None
    weight_decay: Value | None = None
    eps: Value | None = None
    init_std: Value | None = None


class Multipliers(_Frozen):
    output_multiplier: Value
    embedding_multiplier: Value
    residual_multiplier: Value
    attn_logit_scale: Value
    # A mixture of experts' router is readout-like: its forward multiplier is 1 at the proxy and follows the
    # readout's (output_multiplier's) width rules; no framework has one, so renderers lower it into the router.
    router_multiplier: Value | None = None


class MuonInfo(_Frozen):
    """The Muon settings that do not transfer (the per-kind LR and weight decay are in ``kinds``)."""

    kinds: tuple[str, ...]  # the kinds present in the model that Muon trains
    wd_convention: Literal["coupled", "independent"]
    momentum: float
    nesterov: bool
    ns_steps: int
    eps: float
    adjust_lr: Literal["original", "match_rms_adamw"]


class MoeInfo(_Frozen):
    """The MoE settings that are not shape (the expert counts and widths are in ``shape``)."""

    router_score: Literal["softmax", "sigmoid"]
    aux_loss_coeff: float  # the load-balancing auxiliary loss coefficient (0: none)


class ShapeInfo(Shape):
    """A ``Shape`` (its fields and parameter counts) and the architecture constants every size shares."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    norm_eps: float  # the recipe's model.norm_eps (the same at every size)
    rope_theta: float  # the recipe's model.rope_theta (the same at every size)


class RuleSetInfo(_Frozen):
    name: str
    file: str
    title: str
    citation: str
    url: str | None
    params: dict[str, float]


class OptimizerInfo(_Frozen):
    name: str
    wd_convention: Literal["coupled", "independent"]
    betas: tuple[float, float]
    momentum: float
    grad_clip: float | None
    z_loss: float


class BatchInfo(_Frozen):
    global_tokens: int
    global_sequences: int
    micro_batch: int
    data_parallel: int
    grad_accum: int | None  # None when the global batch does not divide into micro batches × data parallel


class ScheduleInfo(_Frozen):
    total_steps: int
    warmup_steps: int
    decay: str
    decay_steps: int  # steps of decay (the whole post-warmup run for cosine/linear; the tail for WSD)
    min_lr_ratio: float


class ClusterInfo(_Frozen):
    nodes: int
    gpus_per_node: int
    tensor_parallel: int
    pipeline_parallel: int
    context_parallel: int
    expert_parallel: int = 1
    gpu: str

    @property
    def world_size(self) -> int:
        return self.nodes * self.gpus_per_node


class Derived(_Frozen):
    params_by_class: dict[str, int]
    total_params: int
    non_embedding_params: int
    flops_per_token: float
    training_flops: float
    tokens: int
    tokens_per_param: float
    adamw_timescale_steps: float | None  # τ = 1/(η·λ) with coupled λ, hidden class; None without WD
    adamw_timescale_fraction: float | None  # τ / total steps
    recommended_batch_tokens: Value | None = None  # from an absolute scaling law, when a rule set has one
    active_params: int | None = None  # mixture of experts: the parameters one token uses (top-k experts)


class Override(_Frozen):
    """One ``--set KEY=VALUE`` applied on top of the recipe file (the file's sha256 does not cover it)."""

    key: str  # the config path, e.g. optimizer.lr
    value: str  # the value as typed on the command line


class Resolved(_Frozen):
    recipec_version: str
    recipe_name: str
    recipe_file: str
    recipe_sha256: str
    recipe_overrides: tuple[Override, ...] = ()  # the --set overrides, in order
    size: str  # the size name, or "proxy"
    rulesets: tuple[RuleSetInfo, ...]
    ratios: dict[str, float]  # width, depth, batch, tokens, head_dim
    proxy_shape: ShapeInfo
    shape: ShapeInfo
    optimizer: OptimizerInfo
    classes: dict[str, ClassHParams]
    kinds: dict[str, KindHParams] = {}
    multipliers: Multipliers
    batch: BatchInfo
    schedule: ScheduleInfo
    cluster: ClusterInfo
    precision: str
    derived: Derived
    muon: MuonInfo | None = None  # set when the recipe trains matrix kinds with Muon
    moe: MoeInfo | None = None  # set when the recipe has model.moe
    # What resolving found questionable but not wrong, as coded diagnostics (lint reports the same ones under
    # their code). In resolved.json each is {message, path, location {file, line, column}, severity, code, hint,
    # extra}.
    warnings: tuple[Diagnostic, ...] = ()

    def values(self) -> dict[str, Value]:
        """Every transferable number by its explain key: 'hidden.lr', 'output_multiplier', …"""
        out: dict[str, Value] = {}
        for cls in PARAM_CLASSES:
            hp = self.classes[cls]
            # a class whose every kind Muon trains has no parameter on the main optimizer's lr / wd / eps
            muon_only = all(k.optimizer == "muon" for k in self.kinds.values() if k.cls == cls) and \
                any(k.cls == cls for k in self.kinds.values())
            for name in ("lr", "weight_decay", "eps", "init_std"):
                v = getattr(hp, name)
                if v is not None and not (muon_only and name != "init_std"):
                    out[f"{cls}.{name}"] = v
        for kind, k in self.kinds.items():  # a kind's own value, where its fan ratios or rules make it differ
            for name in ("lr", "weight_decay", "eps", "init_std"):
                v = getattr(k, name)
                if v is not None:
                    out[f"{kind}.{name}"] = v
        for name in Multipliers.model_fields:
            if getattr(self.multipliers, name) is not None:
                out[name] = getattr(self.multipliers, name)
        if self.derived.recommended_batch_tokens is not None:
            out["recommended_batch_tokens"] = self.derived.recommended_batch_tokens
        return out

    def coupled_weight_decay(self, cls: str) -> float:
        """The class's WD in torch AdamW's coupled form (w -= lr·wd·w)."""
        hp = self.classes[cls]
        return convert_weight_decay(hp.weight_decay.value, hp.lr.value, self.optimizer.wd_convention, "coupled")

    def kind_coupled(self, kind: str) -> CoupledClass:
        """LR, coupled WD, eps and init std of one parameter kind (``recipec.kinds``): its class's numbers
        unless the kind's own fan-in / fan-out ratios (or Muon) resolved it differently."""
        from recipec.kinds import KIND_CLASS

        base = self.coupled(KIND_CLASS[kind])
        k = self.kinds.get(kind)
        if k is None:
            return base
        lr = k.lr.value if k.lr is not None else base.lr
        wd_value = k.weight_decay.value if k.weight_decay is not None else self.classes[k.cls].weight_decay.value
        convention = self.muon.wd_convention if k.optimizer == "muon" and self.muon is not None \
            else self.optimizer.wd_convention  # a Muon kind's decay is in Muon's own convention
        wd = convert_weight_decay(wd_value, lr, convention, "coupled")
        return CoupledClass(lr=lr, weight_decay=wd, eps=k.eps.value if k.eps is not None else base.eps,
                            init_std=k.init_std.value if k.init_std is not None else base.init_std)

    def coupled(self, cls: str) -> CoupledClass:
        """LR, coupled WD, eps and init std of a class: the numbers a torch AdamW group needs."""
        hp = self.classes[cls]
        return CoupledClass(lr=hp.lr.value, weight_decay=self.coupled_weight_decay(cls), eps=hp.eps.value,
                            init_std=None if hp.init_std is None else hp.init_std.value)
