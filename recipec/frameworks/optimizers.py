"""Which optimizer trains each parameter kind, and with which numbers: one definition that render, inspect
and ``recipec.torch`` share.

A kind Muon trains (``resolved.kinds[k].optimizer == "muon"``) gets its own lr, its weight decay in the
coupled form ``w -= lr·wd·w`` (torch.optim.Muon's, converted from ``optimizer.muon.wd_convention``) and
Muon's Newton–Schulz eps; every other kind gets the main optimizer's values (``Resolved.kind_coupled``).

Standard library only.
"""

from __future__ import annotations


def optimizer_of(resolved, kind: str) -> str:
    """"muon" for a Muon-trained kind, else the main optimizer's name (adamw, adam, …)."""
    info = resolved.kinds.get(kind)
    return "muon" if info is not None and info.optimizer == "muon" else resolved.optimizer.name


def kind_values(resolved, kind: str) -> dict:
    """lr, coupled weight_decay, eps and init_std of ``kind`` for the optimizer that trains it."""
    c = resolved.kind_coupled(kind)  # a Muon kind's decay is converted in Muon's own convention there
    if optimizer_of(resolved, kind) != "muon" or resolved.muon is None:
        return c._asdict()
    return {**c._asdict(), "eps": resolved.muon.eps}
