"""What a framework gives one parameter, read back from the framework's own model and optimizer.

Each module ``recipec.inspect.<target>`` exposes::

    observe(out_dir: pathlib.Path, resolved: dict, *, shrink: bool) -> Observation

``resolved`` is the parsed ``resolved.json`` of the compile output directory. ``observe`` builds the
framework's model with the framework's own code from the files in ``out_dir`` (the files a user would
launch), runs the framework's own optimizer construction, and returns one row per trainable
parameter. ``shrink=False``: the compiled shape on the meta device (no init measured);
``shrink=True``: a small model with the same parameter kinds, built on CPU and initialised by the
framework, so the init std is measured. The expected values and the comparison are not the
observer's business (``recipec.inspect.compare``).

torch and the frameworks are imported only inside these modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ParamRow:
    name: str  # the framework's parameter name
    kind: str  # recipec.kinds.KINDS, from the framework's own structure (module names, declared readout)
    shape: tuple[int, ...]
    lr: float  # the optimizer group's peak LR (before any scheduler factor)
    weight_decay: float  # coupled (torch AdamW's lr·wd)
    eps: float
    betas: tuple[float, float]
    init_std: float | None = None  # measured std of the initialised values (None: meta device, not measured)
    init_numel: int = 0  # how many values the std was measured over
    init_truncation: float | None = None  # a truncated normal's bound in units of its std parameter (e.g. 3.0)
    multiplier: float = 1.0  # the forward multiplier the framework itself applies to this weight's output
    min_lr: float | None = None  # the LR at the end of the schedule, where the framework states it per group
    fused: tuple[str, ...] = ()  # further kinds this one tensor holds (a fused q/k/v matrix: ("k", "v"))
    # The optimizer class holding the parameter, as read from the optimizer object: "muon", "adamw", "adam"
    # (None: the observer cannot tell; then a recipe with Muon kinds is a difference for the Muon kinds).
    optimizer: str | None = None
    # Muon's own settings of the parameter's group (None for AdamW/Adam; then ``betas`` is compared)
    momentum: float | None = None
    nesterov: bool | None = None
    ns_steps: int | None = None
    adjust_lr: str | None = None


@dataclass(frozen=True)
class Observation:
    target: str
    rows: tuple[ParamRow, ...]
    # forward multipliers the framework applies natively, by resolved name (output_multiplier, …, attn_logit_scale)
    native: dict[str, float] = field(default_factory=dict)
    shape: dict[str, int] = field(default_factory=dict)  # the shape the model was built at (width, depth, …)
    notes: tuple[str, ...] = ()  # what the observer had to do to build it on this machine (shims, switches)
    shrunk: bool = False  # built at a reduced shape: the attention scale (a function of head_dim) is not compared


class FrameworkMissing(RuntimeError):
    """The target framework is not importable; ``pip`` says how to install it."""

    def __init__(self, target: str, pip: str):
        super().__init__(f"{target} is not installed: {pip}")
        self.target = target
        self.pip = pip


def shrunk(shape: dict) -> dict:
    """A small shape with the same parameter kinds as ``shape`` (resolved.json's ``shape``): 2 layers, at most
    4 query heads of at most 32 dims (the query-per-kv group kept), the FFN's ratio to width kept, vocab 512."""
    head_dim = min(int(shape["head_dim"]), 32)
    group = max(1, int(shape["heads"]) // int(shape["kv_heads"]))
    heads = max(group, (min(int(shape["heads"]), 4) // group) * group)
    width = heads * head_dim
    ffn = max(8, round(int(shape["ffn_hidden"]) * width / int(shape["width"])))
    out = {"width": width, "depth": 2, "heads": heads, "kv_heads": heads // group, "head_dim": head_dim,
           "ffn_hidden": ffn, "vocab_size": 512}
    if int(shape.get("num_experts") or 0):  # a mixture of experts keeps its experts, top-k and shared experts
        out.update(num_experts=int(shape["num_experts"]), top_k=int(shape["top_k"]),
                   shared_experts=int(shape.get("shared_experts") or 0),
                   expert_ffn_hidden=max(8, round(int(shape["expert_ffn_hidden"]) * width / int(shape["width"]))))
    return out


def optimizer_name(optimizer) -> str:
    """"muon", "adamw", "adam", … for a torch optimizer object (by its class, not by any label on its groups)."""
    return type(optimizer).__name__.lower()


def groups_by_param(optimizer) -> dict[int, tuple[str, dict]]:
    """{id(param): (optimizer name, group)} over an optimizer, or over each child of a container that has
    ``optimizers`` (``recipec.torch.Optimizers``, a name → optimizer mapping)."""
    children = getattr(optimizer, "optimizers", None)
    opts = list(children.values()) if isinstance(children, dict) else [optimizer]
    return {id(p): (optimizer_name(o), g) for o in opts for g in o.param_groups for p in g["params"]}


def group_fields(optimizer: str, group: dict) -> dict:
    """ParamRow's optimizer fields from a torch param group (``initial_lr`` when a scheduler set it)."""
    out = {"optimizer": optimizer, "lr": float(group.get("initial_lr", group["lr"])),
           "weight_decay": float(group["weight_decay"]), "eps": float(group["eps"])}
    if optimizer == "muon":
        out.update(betas=(), momentum=float(group["momentum"]), nesterov=bool(group["nesterov"]),
                   ns_steps=int(group["ns_steps"]), adjust_lr=group["adjust_lr_fn"])
    else:
        out["betas"] = tuple(float(b) for b in group["betas"])
    return out


def import_file(path, name: str):
    """Import a generated Python file under a fresh module name (a hand edit since the last import is seen)."""
    import importlib.util
    import sys

    sys.modules.pop(name, None)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def measured_std(tensor) -> tuple[float, int]:
    """(std, count) of a tensor's values, in float64."""
    values = tensor.detach().double().flatten()
    return float(values.std(unbiased=True)), int(values.numel())
