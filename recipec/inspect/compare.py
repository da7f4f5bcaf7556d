"""What each parameter should get, beside what the framework gave it; the differences.

The expected numbers come from ``resolved.json`` (re-validated into a ``Resolved``): a parameter of
kind k gets ``recipec.frameworks.optimizers.kind_values(resolved, k)`` from the optimizer that trains
k (``optimizer_of``: "muon" for a Muon kind, else the main optimizer). Where the observer reads the
optimizer class (``ParamRow.optimizer``) it must be that one; a Muon parameter is also checked for
Muon's momentum, nesterov, ns_steps and adjust_lr, an AdamW/Adam one for its betas. An observer that
cannot tell the optimizer (``None``) is a difference for a Muon kind only. Where the framework cannot
apply a forward multiplier c that acts on the weight (readout, embedding, residual-branch output),
recipec's renderers lower it into the weight — init std and LR × c, Adam eps and coupled WD ÷ c (Muon's
eps stays: its update does not see the gradient's scale) — so that is what the framework
must show, with c = resolved multiplier ÷ the multiplier the framework applies itself. A weight
shared by the embedding and the readout cannot be lowered: that multiplier is a gap of the target
(``recipec.frameworks.gaps``, RC603), listed as such and not counted as a difference.

Init std: measured over n values after the framework's own initialisation; the sample std of a
normal has relative standard error ≈ 1/√(2n), so a measured std agrees when it is within
5/√(2n) + 1e-3 of the expected one (relative). A truncated normal at ±a std parameters has a real std
of σ·√(1 − 2aφ(a)/(2Φ(a) − 1)) (0.9866σ at a = 3); the expected std is stated that way.

Standard library plus recipec's own models: no torch here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from recipec.inspect.observed import Observation, ParamRow
from recipec.kinds import KIND_CLASS, MULTIPLIER_OF

REL = 1e-9  # LR, WD, eps and betas are written as exact floats: anything beyond rounding is a difference


@dataclass(frozen=True)
class Check:
    what: str  # lr | weight_decay | eps | betas | min_lr | init_std | <multiplier name>
    got: float | tuple | None
    want: float | tuple | None
    ok: bool
    note: str = ""


@dataclass(frozen=True)
class RowReport:
    row: ParamRow
    lowered: float  # the multiplier folded into this weight (1.0: none)
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


@dataclass(frozen=True)
class Report:
    target: str
    observation: Observation
    rows: tuple[RowReport, ...]
    globals: tuple[Check, ...]  # forward multipliers and the attention scale, model-wide
    gaps: tuple[str, ...]  # what the target cannot express (the one gaps list), as its notes say
    missing_kinds: tuple[str, ...] = field(default=())  # kinds the recipe has that no parameter was given

    @property
    def differences(self) -> list[str]:
        out = [f"{r.row.name}: {c.what} {_fmt(c.got)} ≠ {_fmt(c.want)}" + (f" ({c.note})" if c.note else "")
               for r in self.rows for c in r.checks if not c.ok]
        out += [f"{c.what}: {_fmt(c.got)} ≠ {_fmt(c.want)}" + (f" ({c.note})" if c.note else "")
                for c in self.globals if not c.ok]
        out += [f"kind {k}: no parameter of the model has it" for k in self.missing_kinds]
        return out

    @property
    def ok(self) -> bool:
        return not self.differences


def _fmt(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, (str, bool)):
        return str(x)
    if isinstance(x, tuple):
        return "(" + ", ".join(_fmt(v) for v in x) + ")"
    return f"{x:.6g}"


def _close(got: float, want: float, rel: float = REL) -> bool:
    if want == 0:
        return got == 0
    return math.isclose(got, want, rel_tol=rel, abs_tol=0.0)


def truncated_std_factor(a: float) -> float:
    """std of a standard normal truncated to [-a, a]."""
    phi = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    mass = math.erf(a / math.sqrt(2))  # 2Φ(a) − 1
    return math.sqrt(1 - 2 * a * phi / mass)


def init_tolerance(n: int) -> float:
    return 5.0 / math.sqrt(2.0 * max(n, 1)) + 1e-3


def _multiplier_value(resolved, name: str) -> float:
    v = getattr(resolved.multipliers, name)
    return 1.0 if v is None else float(v.value)  # router_multiplier: absent (1) unless the recipe has one


def compare(resolved, observation: Observation) -> Report:
    """Check every observed parameter against the resolved recipe (see the module docstring)."""
    from recipec.frameworks.gaps import MULTIPLIER_GAPS
    from recipec.frameworks.gaps import gaps as target_gaps
    from recipec.frameworks.optimizers import kind_values, optimizer_of
    from recipec.kinds import present
    from recipec.resolved import CoupledClass

    gaps = target_gaps(observation.target, resolved)
    gap_multipliers = {MULTIPLIER_GAPS[g.key] for g in gaps if g.key in MULTIPLIER_GAPS}
    value_gaps = {(g.kind, what): g.note for g in gaps if g.kind is not None for what in g.checks}
    tied = resolved.shape.tied_embeddings
    s = resolved.schedule
    min_ratio = 1.0 if s.decay == "constant" else s.min_lr_ratio
    reports = []
    for row in observation.rows:
        want = CoupledClass(**kind_values(resolved, row.kind))
        want_opt = optimizer_of(resolved, row.kind)
        muon = want_opt == "muon"
        mult = MULTIPLIER_OF.get(row.kind)
        c = 1.0
        if mult is not None and not (tied and row.kind == "embedding"):
            c = _multiplier_value(resolved, mult) / row.multiplier
        eps = want.eps if muon else want.eps / c
        checks = []
        if row.optimizer is not None or muon:
            checks.append(Check("optimizer", row.optimizer, want_opt, row.optimizer == want_opt,
                                "" if row.optimizer is not None
                                else "the observer cannot tell which optimizer holds it"))
        checks += [
            Check("lr", row.lr, want.lr * c, _close(row.lr, want.lr * c)),
            Check("weight_decay", row.weight_decay, want.weight_decay / c,
                  _close(row.weight_decay, want.weight_decay / c)),
            Check("eps", row.eps, eps, _close(row.eps, eps)),
        ]
        if muon and row.optimizer == "muon":
            m = resolved.muon
            checks += [Check("momentum", row.momentum, m.momentum,
                             row.momentum is not None and _close(row.momentum, m.momentum)),
                       Check("nesterov", row.nesterov, m.nesterov, row.nesterov == m.nesterov),
                       Check("ns_steps", row.ns_steps, m.ns_steps, row.ns_steps == m.ns_steps),
                       Check("adjust_lr", row.adjust_lr, m.adjust_lr, row.adjust_lr == m.adjust_lr)]
        elif not muon:
            checks.append(Check("betas", tuple(row.betas), tuple(resolved.optimizer.betas),
                                len(row.betas) == 2
                                and all(_close(a, b) for a, b in zip(row.betas, resolved.optimizer.betas))))
        if row.min_lr is not None:
            checks.append(Check("min_lr", row.min_lr, want.lr * c * min_ratio,
                                _close(row.min_lr, want.lr * c * min_ratio)))
        if row.init_std is not None and KIND_CLASS[row.kind] != "vector" and want.init_std is not None:
            expected = want.init_std * c
            note = ""
            if row.init_truncation is not None:
                expected *= truncated_std_factor(row.init_truncation)
                note = (f"truncated normal at ±{row.init_truncation:g}σ: "
                        f"real std {truncated_std_factor(row.init_truncation):.4f}·σ")
            tol = init_tolerance(row.init_numel)
            checks.append(Check("init_std", row.init_std, expected, abs(row.init_std - expected) <= tol * expected,
                                note or f"tolerance ±{tol:.1%} over {row.init_numel} values"))
        # what the target cannot give this kind (a listed gap) is stated, not counted as a difference
        checks = [Check(c.what, c.got, c.want, True, f"gap (RC603): {value_gaps[(row.kind, c.what)]}")
                  if not c.ok and (row.kind, c.what) in value_gaps else c for c in checks]
        for other in row.fused:  # one tensor, one group: its other kinds must resolve to the same numbers and optimizer
            o = CoupledClass(**kind_values(resolved, other))
            same = optimizer_of(resolved, other) == want_opt and \
                all(_close(a, b) for a, b in zip(o, want) if a is not None and b is not None)
            checks.append(Check(f"{other} part", None, None, same,
                                "" if same else f"fused with {row.kind}, but {other} resolves to "
                                f"{optimizer_of(resolved, other)} lr {o.lr:.6g}, "
                                f"wd {o.weight_decay:.6g}, eps {o.eps:.6g}, init {o.init_std}"))
        reports.append(RowReport(row=row, lowered=c, checks=tuple(checks)))

    globals_ = []
    for name in ("output_multiplier", "embedding_multiplier", "residual_multiplier", "attn_logit_scale"):
        if name not in observation.native or (observation.shrunk and name == "attn_logit_scale"):
            continue
        res = _multiplier_value(resolved, name)
        native = observation.native[name]
        lowerable = name != "attn_logit_scale" and not (tied and name in ("output_multiplier", "embedding_multiplier"))
        if lowerable or _close(native, res):
            continue  # lowered into the weights (checked per parameter above) or applied natively
        if name in gap_multipliers:
            continue  # a gap of this target: listed below, not a difference
        globals_.append(Check(name, native, res, False, "the framework applies this, and no gap says so"))

    kinds_seen = {r.kind for r in observation.rows} | {k for r in observation.rows for k in r.fused}
    missing = tuple(k for k in present(resolved.shape) if k not in kinds_seen
                    and not (k in ("q", "k", "v") and kinds_seen & {"q", "k", "v"})
                    and not _known_absent(k, {g.key for g in gaps}))
    return Report(target=observation.target, observation=observation, rows=tuple(reports), globals=tuple(globals_),
                  gaps=tuple(g.note for g in gaps), missing_kinds=missing)


def _known_absent(kind: str, keys: set[str]) -> bool:
    """Kinds a target's model lacks by a documented gap (``keys``: its gaps' keys; HF Llama has no qk-norm)."""
    return (kind == "qk_norm" and "qk_norm" in keys) or (kind == "bias" and "bias" in keys) or \
        (kind in ("norm", "final_norm", "qk_norm") and "norm" in keys)
