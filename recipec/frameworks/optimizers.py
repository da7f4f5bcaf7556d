"""Which optimizer trains each parameter kind, and with which numbers: one definition that render, inspect
and ``recipec.torch`` share.

A kind Muon trains (``resolved.kinds[k].optimizer == "muon"``) gets its own lr, its weight decay in the
coupled form ``w -= lr·wd·w`` (torch.optim.Muon's, converted from ``optimizer.muon.wd_convention``) and
Muon's Newton–Schulz eps; every other kind gets the main optimizer's values (``Resolved.kind_coupled``).

Standard library only.
"""

from __future__ import annotations

from recipec.resolved import convert_weight_decay


def optimizer_of(resolved, kind: str) -> str:
    """"muon" for a Muon-trained kind, else the main optimizer's name (adamw, adam, …)."""
    info = resolved.kinds.get(kind)
    return "muon" if info is not None and info.optimizer == "muon" else resolved.optimizer.name


def kind_values(resolved, kind: str) -> dict:
    """lr, coupled weight_decay, eps and init_std of ``kind`` for the optimizer that trains it."""
    c = resolved.kind_coupled(kind)
    info = resolved.kinds.get(kind)
    if info is None or info.optimizer != "muon" or resolved.muon is None:
        return c._asdict()
    lr = info.lr.value if info.lr is not None else c.lr
    wd = 0.0 if info.weight_decay is None else convert_weight_decay(info.weight_decay.value, lr,
                                                                    resolved.muon.wd_convention, "coupled")
    return {"lr": lr, "weight_decay": wd, "eps": resolved.muon.eps, "init_std": c.init_std}
