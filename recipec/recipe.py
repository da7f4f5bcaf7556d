"""The recipe schema: pydantic models of a proxy training recipe and its named target sizes.

Unknown keys are rejected everywhere, NaN and infinity are rejected, and every model is frozen.
`schemas/recipe.schema.json` is generated from these models (``recipec schema``).

Conventions used throughout recipec:

* width is ``d_model``; the width ratio m = target width / proxy width.
* parameter classes: ``hidden`` (attention q/k/v/o and MLP matrices), ``embedding`` (token
  embedding), ``output`` (readout / lm_head), ``vector`` (norm gains and biases).
* weight decay "coupled" is torch AdamW's ``w -= lr * wd * w``; "independent" is ``w -= wd * w``.

Over 300 lines on purpose: the whole schema reads as one document (one model per recipe section), the
source of ``schemas/recipe.schema.json``.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, model_validator

# Number ranges. Every number has explicit bounds, chosen so that every derived figure (parameter
# counts, FLOPs, ratios, the AdamW timescale, what the renderers compute) stays a finite float:
# * shape-like integers (widths, depths, heads, vocabulary, sequence length, micro batch, cluster
#   sizes): 1 to MAX_SHAPE = 2^24;
# * counts (tokens, steps, sequences): up to MAX_COUNT = 2^53, the integers a float holds exactly;
# * real numbers: finite, and a non-zero magnitude between MIN_REAL = 1e-30 and MAX_REAL = 1e30.
# The JSON Schema states each range (minimum / maximum, and the description; ``recipec.schema``).
MAX_SHAPE = 2**24
MAX_COUNT = 2**53
MIN_REAL, MAX_REAL = 1e-30, 1e30
MAX_SIZES = 256  # named sizes in a recipe: lint resolves every one, so their number bounds its run time
MAX_LIST = 64  # rule sets in `transfer`


def _zero_or_normal(value: float) -> float:
    if value != 0 and abs(value) < MIN_REAL:
        raise ValueError(f"must be 0 or at least {MIN_REAL:g} (got {value!r})")
    return value


# Strict numbers: YAML already types them; a boolean or a quoted string where a number belongs is an error.
PositiveInt = Annotated[int, Strict(), Field(gt=0, le=MAX_SHAPE)]
CountInt = Annotated[int, Strict(), Field(gt=0, le=MAX_COUNT)]
NonNegCount = Annotated[int, Strict(), Field(ge=0, le=MAX_COUNT)]
PositiveFloat = Annotated[float, Strict(), Field(ge=MIN_REAL, le=MAX_REAL)]
NonNegFloat = Annotated[float, Strict(), Field(ge=0, le=MAX_REAL), AfterValidator(_zero_or_normal)]
UnitFloat = Annotated[float, Strict(), Field(ge=0, le=1)]
RealParam = Annotated[float, Strict(), Field(ge=-MAX_REAL, le=MAX_REAL)]
Flag = Annotated[bool, Strict()]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, validate_default=True)


def _exactly_one(obj: BaseModel, names: tuple[str, ...], what: str) -> None:
    given = [n for n in names if getattr(obj, n) is not None]
    if len(given) != 1:
        options = " or ".join(f"'{n}'" for n in names)
        if not given:
            raise ValueError(f"{what}: give one of {options}")
        raise ValueError(f"{what}: give only one of {options} (got {', '.join(given)})")


# --------------------------------------------------------------------------- model


class MoE(_Model):
    """Mixture of experts: every block's MLP is ``num_experts`` SwiGLU experts of hidden size
    ``expert_ffn_hidden``; a linear router (width → num_experts) sends each token to ``top_k`` of them,
    and ``shared_experts`` experts of the same size see every token."""

    num_experts: Annotated[int, Strict(), Field(ge=2, le=MAX_SHAPE)] = Field(description="Routed experts per block.")
    top_k: PositiveInt = Field(description="Experts each token is routed to (at most num_experts).")
    expert_ffn_hidden: PositiveInt | None = Field(
        None, description="Hidden size of one expert's MLP; default: the model's MLP hidden size. A size keeps its "
                          "ratio to width unless it sets its own.")
    shared_experts: Annotated[int, Strict(), Field(ge=0, le=64)] = Field(
        0, description="Always-active experts per block (DeepSeekMoE), each of expert_ffn_hidden.")
    router_score: Literal["softmax", "sigmoid"] = Field(
        "softmax", description="Router score function; the top-k gate weights are renormalised to sum to 1.")
    aux_loss_coeff: Annotated[float, Strict(), Field(ge=0, le=1e3), AfterValidator(_zero_or_normal)] = Field(
        0.01, description="Load-balancing auxiliary loss coefficient (0 disables).")

    @model_validator(mode="after")
    def _check(self) -> MoE:
        if self.top_k > self.num_experts:
            raise ValueError(f"top_k {self.top_k} is more than num_experts {self.num_experts}")
        return self


class ModelShape(_Model):
    """A LLaMA-style decoder: pre-norm, RoPE, SwiGLU MLP, optional GQA and qk-norm."""

    width: PositiveInt = Field(description="Model width d_model.")
    depth: PositiveInt = Field(description="Number of transformer blocks.")
    head_dim: PositiveInt | None = Field(None, description="Attention head dimension (give this or 'heads').")
    heads: PositiveInt | None = Field(None, description="Number of attention heads (give this or 'head_dim').")
    kv_heads: PositiveInt | None = Field(
        None, description="Key/value heads for grouped-query attention; default: equal to heads."
    )
    ffn_hidden: PositiveInt | None = Field(None, description="MLP hidden size (give this or 'ffn_multiplier').")
    ffn_multiplier: Annotated[float, Strict(), Field(ge=MIN_REAL, le=1024)] | None = Field(
        None, description="MLP hidden size as a multiple of width (SwiGLU LLaMA uses 8/3 to 4)."
    )
    ffn_multiple_of: PositiveInt = Field(1, description="Round the MLP hidden size up to a multiple of this.")
    vocab_size: PositiveInt
    seq_len: PositiveInt = Field(description="Training sequence length in tokens.")
    tied_embeddings: Flag = False
    norm: Literal["rmsnorm", "layernorm", "none"] = "rmsnorm"
    norm_eps: PositiveFloat = 1e-5
    qk_norm: Flag = False
    bias: Flag = Field(False, description="Biases in the linear layers.")
    rope_theta: PositiveFloat = 10000.0
    moe: MoE | None = Field(None, description="Mixture-of-experts MLPs (absent: every block has a dense SwiGLU MLP).")

    @model_validator(mode="after")
    def _check(self) -> ModelShape:
        if self.heads is not None and self.head_dim is not None:
            raise ValueError("give only one of 'heads' or 'head_dim' (got both)")
        if self.heads is None and self.head_dim is None:
            raise ValueError("give one of 'heads' or 'head_dim'")
        if self.ffn_hidden is not None and self.ffn_multiplier is not None:
            raise ValueError("give only one of 'ffn_hidden' or 'ffn_multiplier' (got both)")
        if self.ffn_hidden is None and self.ffn_multiplier is None:
            raise ValueError("give one of 'ffn_hidden' or 'ffn_multiplier'")
        if self.moe is not None and self.bias:
            raise ValueError("'bias' with 'moe' is not supported: the experts and router have no biases here")
        return self


# --------------------------------------------------------------------------- optimizer


class HyperOverride(_Model):
    """Proxy-size overrides of optimizer hyperparameters for one parameter class."""

    lr: PositiveFloat | None = None
    weight_decay: NonNegFloat | None = None
    eps: PositiveFloat | None = None


class PerClassHyper(_Model):
    hidden: HyperOverride | None = None
    embedding: HyperOverride | None = None
    output: HyperOverride | None = None
    vector: HyperOverride | None = None


KindName = Literal["q", "k", "v", "o", "mlp_in", "mlp_out", "expert_in", "expert_out", "shared_in", "shared_out",
                   "embedding", "output", "router", "norm", "qk_norm", "final_norm", "bias"]
MatrixKindName = Literal["q", "k", "v", "o", "mlp_in", "mlp_out", "expert_in", "expert_out", "shared_in", "shared_out",
                         "embedding", "output", "router"]
# Kinds Muon may train: matrices (Muon orthogonalizes 2-D updates; a norm gain or a bias has none).
MuonKindName = MatrixKindName
MUON_DEFAULT_KINDS: tuple[str, ...] = ("q", "k", "v", "o", "mlp_in", "mlp_out", "expert_in", "expert_out",
                                       "shared_in", "shared_out")


class Muon(_Model):
    """Muon (momentum orthogonalized by Newton–Schulz) for the matrix kinds in ``kinds``; every other
    parameter trains with the main optimizer (AdamW/Adam) and its own settings.

    ``adjust_lr`` is torch.optim.Muon's ``adjust_lr_fn``: ``original`` (Keller Jordan) scales each update
    by √max(1, fan_out/fan_in); ``match_rms_adamw`` (Moonlight) by 0.2·√max(fan_out, fan_in), so the
    update's RMS is about 0.2·lr, as AdamW's."""

    lr: PositiveFloat = Field(description="Muon learning rate at the proxy (before the optimizer's shape factor).")
    weight_decay: NonNegFloat = Field(0.0, description="Muon's own weight decay (separate from the main optimizer's).")
    wd_convention: Literal["coupled", "independent"] | None = Field(
        None, description="coupled: w -= lr*wd*w (torch.optim.Muon); independent: w -= wd*w. Required when "
                          "weight_decay > 0.")
    momentum: UnitFloat = 0.95
    nesterov: Flag = True
    ns_steps: Annotated[int, Strict(), Field(ge=1, le=100)] = Field(5, description="Newton–Schulz iterations.")
    eps: PositiveFloat = Field(1e-7, description="Newton–Schulz normalization epsilon.")
    adjust_lr: Literal["original", "match_rms_adamw"] = Field(
        "original", description="The optimizer's per-matrix LR factor (torch.optim.Muon adjust_lr_fn).")
    kinds: tuple[MuonKindName, ...] = Field(
        MUON_DEFAULT_KINDS, min_length=1, max_length=32,
        description="The kinds Muon trains (default: every hidden matrix; embedding, output and router are "
                    "allowed but lint warns).")

    @model_validator(mode="after")
    def _check(self) -> Muon:
        if self.weight_decay > 0 and self.wd_convention is None:
            raise ValueError("muon: weight decay is set but 'wd_convention' is missing: say 'coupled' "
                             "(torch.optim.Muon, lr*wd) or 'independent'")
        if len(set(self.kinds)) != len(self.kinds):
            raise ValueError("muon.kinds: a kind is listed twice")
        return self


class Optimizer(_Model):
    name: Literal["adamw", "adam", "sgd"] = "adamw"
    lr: PositiveFloat = Field(description="Base learning rate at the proxy (peak of the schedule).")
    weight_decay: NonNegFloat = 0.0
    wd_convention: Literal["coupled", "independent"] | None = Field(
        None,
        description="coupled: torch AdamW (w -= lr*wd*w); independent: w -= wd*w. Required when weight_decay > 0.",
    )
    betas: tuple[UnitFloat, UnitFloat] = (0.9, 0.95)
    eps: PositiveFloat = 1e-8
    momentum: UnitFloat = Field(0.9, description="SGD momentum (ignored by Adam/AdamW).")
    grad_clip: NonNegFloat | None = Field(1.0, description="Gradient-norm clipping threshold; null or 0 disables.")
    z_loss: NonNegFloat = Field(0.0, description="Output-logit z-loss coefficient (0 disables).")
    per_class: PerClassHyper = Field(default_factory=PerClassHyper, description="Proxy overrides per parameter class.")
    per_kind: dict[KindName, HyperOverride] = Field(
        default_factory=dict,
        description="Proxy overrides per parameter kind (recipec.kinds: q, k, v, o, mlp_in, mlp_out, "
                    "expert_in, expert_out, shared_in, shared_out, embedding, output, router, "
                    "norm, qk_norm, final_norm, bias); they win over per_class and over muon.")
    muon: Muon | None = Field(None, description="Train matrix kinds with Muon; the rest with this optimizer.")

    @model_validator(mode="after")
    def _check(self) -> Optimizer:
        muon_kinds = set(self.muon.kinds) if self.muon is not None else set()
        uses_wd = self.weight_decay > 0 or any(
            c is not None and (c.weight_decay or 0) > 0
            for c in (self.per_class.hidden, self.per_class.embedding, self.per_class.output, self.per_class.vector,
                      *(v for k, v in self.per_kind.items() if k not in muon_kinds))
        )
        if self.muon is not None and self.muon.wd_convention is None and any(
                (v.weight_decay or 0) > 0 for k, v in self.per_kind.items() if k in muon_kinds):
            raise ValueError("per_kind sets weight decay on a Muon kind but 'muon.wd_convention' is missing")
        if uses_wd and self.wd_convention is None:
            raise ValueError(
                "weight decay is set but 'wd_convention' is missing: say 'coupled' (torch AdamW, lr*wd) "
                "or 'independent'"
            )
        if self.muon is not None and self.name == "sgd":
            raise ValueError("muon trains the matrices and 'name' the rest: use adamw or adam for the rest, not sgd")
        return self


# --------------------------------------------------------------------------- init


class InitStd(_Model):
    hidden: PositiveFloat | None = None
    embedding: PositiveFloat | None = None
    output: PositiveFloat | None = None


class Init(_Model):
    parametrization: Literal["standard", "mup", "completep"] = Field(
        "standard", description="The parametrization the proxy was tuned in (declared intent; lint checks it)."
    )
    std: PositiveFloat = Field(0.02, description="Base init std of matrices at the proxy.")
    per_class_std: InitStd = Field(default_factory=InitStd)
    per_kind_std: dict[MatrixKindName, PositiveFloat] = Field(
        default_factory=dict, description="Init std per matrix kind at the proxy; wins over per_class_std.")
    output_multiplier: PositiveFloat = Field(1.0, description="Forward multiplier on the output logits at the proxy.")
    embedding_multiplier: PositiveFloat = Field(1.0, description="Forward multiplier on the embeddings at the proxy.")
    residual_multiplier: PositiveFloat = Field(1.0, description="Multiplier on each residual branch at the proxy.")
    attn_logit_scale: PositiveFloat | None = Field(
        None, description="Attention logit scale at the proxy; default 1/sqrt(head_dim)."
    )


# --------------------------------------------------------------------------- schedule, batch, run


class Warmup(_Model):
    fraction: UnitFloat | None = Field(None, description="Warmup as a fraction of the run.")
    tokens: CountInt | None = None
    steps: NonNegCount | None = Field(None, description="Absolute steps (does not transfer; lint warns).")

    @model_validator(mode="after")
    def _check(self) -> Warmup:
        _exactly_one(self, ("fraction", "tokens", "steps"), "warmup")
        return self


class Schedule(_Model):
    warmup: Warmup = Field(default_factory=lambda: Warmup(fraction=0.01))
    decay: Literal["cosine", "linear", "wsd", "constant"] = "cosine"
    min_lr_ratio: UnitFloat = 0.1
    decay_fraction: UnitFloat | None = Field(None, description="WSD: fraction of the run spent decaying.")
    decay_steps: CountInt | None = Field(None, description="WSD: absolute decay steps (does not transfer).")

    @model_validator(mode="after")
    def _check(self) -> Schedule:
        if self.decay == "wsd" and self.decay_fraction is None and self.decay_steps is None:
            raise ValueError("decay 'wsd' needs 'decay_fraction' (or 'decay_steps')")
        if self.decay_fraction is not None and self.decay_steps is not None:
            raise ValueError("give only one of 'decay_fraction' or 'decay_steps'")
        return self


class Batch(_Model):
    global_tokens: CountInt | None = Field(None, description="Global batch in tokens.")
    global_sequences: CountInt | None = Field(None, description="Global batch in sequences.")
    micro_batch: PositiveInt = Field(1, description="Sequences per GPU per forward pass.")

    @model_validator(mode="after")
    def _check(self) -> Batch:
        _exactly_one(self, ("global_tokens", "global_sequences"), "batch")
        return self


class Run(_Model):
    tokens: CountInt | None = None
    steps: CountInt | None = None

    @model_validator(mode="after")
    def _check(self) -> Run:
        _exactly_one(self, ("tokens", "steps"), "run")
        return self


class Cluster(_Model):
    nodes: PositiveInt = 1
    gpus_per_node: PositiveInt = 8
    tensor_parallel: PositiveInt = 1
    pipeline_parallel: PositiveInt = 1
    context_parallel: PositiveInt = 1
    expert_parallel: PositiveInt = Field(1, description="Expert-parallel size (mixture of experts): the experts of a "
                                                       "block are split over this many GPUs.")
    gpu: str = Field("h100", max_length=64, description="GPU type (informational).")


# --------------------------------------------------------------------------- rule sets


class TransferRef(_Model):
    """A rule set by name (``fan2025``) or path (``./my-rules.yaml``), with parameter values."""

    name: str = Field(min_length=1, max_length=4096)
    params: dict[str, RealParam] = Field(default_factory=dict)


TransferItem = Annotated[str, Field(min_length=1, max_length=4096)] | TransferRef


# --------------------------------------------------------------------------- sizes


class SizeModel(_Model):
    width: PositiveInt | None = None
    depth: PositiveInt | None = None
    head_dim: PositiveInt | None = None
    heads: PositiveInt | None = None
    kv_heads: PositiveInt | None = None
    ffn_hidden: PositiveInt | None = None
    ffn_multiplier: Annotated[float, Strict(), Field(ge=MIN_REAL, le=1024)] | None = None
    seq_len: PositiveInt | None = None
    num_experts: Annotated[int, Strict(), Field(ge=2, le=MAX_SHAPE)] | None = None
    top_k: PositiveInt | None = None
    expert_ffn_hidden: PositiveInt | None = None


class SizeBatch(_Model):
    global_tokens: CountInt | None = None
    global_sequences: CountInt | None = None
    micro_batch: PositiveInt | None = None

    @model_validator(mode="after")
    def _check(self) -> SizeBatch:
        if self.global_tokens is not None and self.global_sequences is not None:
            raise ValueError("batch: give only one of 'global_tokens' or 'global_sequences'")
        return self


class SizeRun(_Model):
    tokens: CountInt | None = None
    steps: CountInt | None = None

    @model_validator(mode="after")
    def _check(self) -> SizeRun:
        if self.tokens is not None and self.steps is not None:
            raise ValueError("run: give only one of 'tokens' or 'steps'")
        return self


class SizeCluster(_Model):
    nodes: PositiveInt | None = None
    gpus_per_node: PositiveInt | None = None
    tensor_parallel: PositiveInt | None = None
    pipeline_parallel: PositiveInt | None = None
    context_parallel: PositiveInt | None = None
    expert_parallel: PositiveInt | None = None
    gpu: str | None = Field(None, max_length=64)


class Size(_Model):
    """A named target size: what changes relative to the proxy."""

    description: str | None = Field(None, max_length=4096)
    model: SizeModel = Field(default_factory=SizeModel)
    batch: SizeBatch = Field(default_factory=SizeBatch)
    run: SizeRun = Field(default_factory=SizeRun)
    cluster: SizeCluster = Field(default_factory=SizeCluster)
    overrides: PerClassHyper = Field(
        default_factory=PerClassHyper,
        description="Hand-set target values that replace the transferred ones (lint warns: they do not transfer).",
    )


def _not_proxy(name: str) -> str:
    if name == "proxy":  # ``--size proxy`` (recipec.transfer.PROXY) always means the recipe's own shape
        raise ValueError("size name 'proxy' is reserved for the proxy itself (the recipe's top-level model, "
                         "batch and run; --size proxy): rename this size")
    return name


SizeName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
                                json_schema_extra={"not": {"const": "proxy"}}), AfterValidator(_not_proxy)]


class Recipe(_Model):
    """A proxy training recipe, the rule sets that transfer it, and its named target sizes."""

    name: str = Field(min_length=1, max_length=256)
    description: str | None = Field(None, max_length=65536)
    model: ModelShape
    optimizer: Optimizer
    init: Init = Field(default_factory=Init)
    schedule: Schedule = Field(default_factory=Schedule)
    batch: Batch
    run: Run
    precision: Literal["bf16", "fp16", "fp32", "fp8"] = "bf16"
    cluster: Cluster = Field(default_factory=Cluster)
    # ``lambda: []``, not ``list``: pydantic reads a factory's signature, and for the builtin that means
    # tokenizing its text signature (compiling tokenize's regex: ~8 ms of every start-up)
    transfer: list[TransferItem] = Field(default_factory=lambda: [], max_length=MAX_LIST,
                                         description="Rule sets to apply, in order (at most 64).")
    sizes: dict[SizeName, Size] = Field(default_factory=dict, max_length=MAX_SIZES,
                                        description="Named target sizes (at most 256: each is resolved by lint).")


# --------------------------------------------------------------------------- derived shape helpers


def round_up(value: float, multiple: int) -> int:
    return int(multiple * math.ceil(value / multiple - 1e-12))
