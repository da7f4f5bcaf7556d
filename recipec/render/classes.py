"""Per-class optimizer settings in the coupled (torch AdamW) convention, and lowering of multipliers.

All supported frameworks use torch's coupled AdamW (``w -= lr * wd * w``), so every renderer takes
its numbers from here rather than from ``Resolved`` directly.

Lowering: a forward multiplier ``c`` on the output of a weight ``W`` (``y = c · W x``) is the same
model as ``y = W' x`` with ``W' = c · W``. For Adam(W) the two trainings coincide exactly when the
reparametrised weight gets init std × c, LR × c, Adam eps ÷ c and coupled WD ÷ c (Adam's update is
invariant to the gradient scale apart from eps; coupled decay multiplies by the LR). This is muP's
"form A" for the readout (TP5 Table 3 vs Table 8). The one thing that differs is global
gradient-norm clipping, whose norm sees the lowered weight's gradient ÷ c; renderers say so.
"""

from __future__ import annotations

from dataclasses import dataclass

from recipec.kinds import PARAM_CLASSES


@dataclass(frozen=True)
class ClassGroup:
    name: str  # hidden | embedding | output | vector | hidden_branch_out
    cls: str  # the recipe class it comes from
    lr: float
    weight_decay: float  # coupled
    eps: float
    init_std: float | None
    scale: float = 1.0  # the lowered multiplier (1.0: nothing lowered)


def class_groups(resolved) -> tuple[ClassGroup, ...]:
    """One group per class, coupled WD, no lowering."""
    return tuple(ClassGroup(name=cls, cls=cls, **resolved.coupled(cls)._asdict()) for cls in PARAM_CLASSES)


def lowered(group: ClassGroup, c: float, name: str | None = None) -> ClassGroup:
    """``group`` with a forward multiplier ``c`` folded into its weight (see module docstring)."""
    return ClassGroup(name=name or group.name, cls=group.cls, lr=group.lr * c, weight_decay=group.weight_decay / c,
                      eps=group.eps / c, init_std=None if group.init_std is None else group.init_std * c,
                      scale=c)
