"""Applying the loaded rule sets to one value: an absolute formula or a fixed value, then each axis's power law."""

from __future__ import annotations

import math

from recipec.resolved import Step
from recipec.transfer.ruleset import AXES, Rule, RuleSet


class Applier:
    """Applies the loaded rule sets to one (kind or class, hp) value."""

    def __init__(self, sets: list[RuleSet], ratios: dict[str, float], formula_vars: dict[str, float]):
        self.ratios = ratios
        self.formula_vars = formula_vars
        self.power: dict[tuple[str, str], list[tuple[RuleSet, Rule, float]]] = {}
        self.fixed: dict[tuple[str, str], list[tuple[RuleSet, Rule]]] = {}
        self.formula: dict[tuple[str, str], tuple[RuleSet, object]] = {}
        self.kind_rules: dict[str, list[Rule]] = {}  # class -> its rules restricted to some of its kinds
        self.dims: dict[str, set[int]] = {}  # class -> which fan ratios (0 fan-in, 1 fan-out, 2 spectral) it uses
        for rs in sets:
            for rule, exponent in zip(rs.spec.rules, rs.exponents):
                for cls in rule.classes():
                    key = (cls, rule.hp)
                    if rule.kinds is not None:
                        self.kind_rules.setdefault(cls, []).append(rule)
                    if rule.ratio != "width":
                        self.dims.setdefault(cls, set()).add(("fan_in", "fan_out", "spectral").index(rule.ratio))
                    if exponent is None:
                        self.fixed.setdefault(key, []).append((rs, rule))
                    else:
                        entries = self.power.setdefault(key, [])
                        # one rule per (axis, ratio, kinds, optimizer): a Muon rule is not a duplicate of the main one
                        same = (rule.axis, rule.ratio, tuple(rule.kinds or ()), rule.optimizer)
                        if all((e[1].axis, e[1].ratio, tuple(e[1].kinds or ()), e[1].optimizer) != same
                               for e in entries):
                            entries.append((rs, rule, exponent))  # identical duplicates apply once
            for f in rs.spec.formulas:
                for cls in f.classes():
                    self.formula.setdefault((cls, f.hp), (rs, f))

    def has_rule(self, cls: str, hp: str, axis: str | None = None) -> bool:
        key = (cls, hp)
        if axis is None:
            return key in self.power or key in self.fixed or key in self.formula
        return any(e[1].axis == axis for e in self.power.get(key, []))

    def apply(self, cls: str, hp: str, value: float, chain: list[Step], kind: str | None = None,
              fan_ratios: tuple[float, ...] = (1.0, 1.0, 1.0), lr_batch: float = 1.0, muon: bool = False) -> float:
        """``value`` through the rules for (cls, hp) that act on ``kind``; ``muon``: the kind trains with Muon
        (then only ``optimizer: muon`` rules set its lr and weight decay, and no absolute formula does)."""
        key = (cls, hp)
        fixed = next(((rs, rule) for rs, rule in self.fixed.get(key, []) if rule.applies_to(kind, muon)), None)
        if key in self.formula and not muon:
            rs, f = self.formula[key]
            value = f.coefficient
            parts = []
            for var, exp in sorted(f.terms.items()):
                value *= power(self.formula_vars[var], exp)
                parts.append(f"{var}^{exp:g}")
            chain.append(Step(kind="formula", ruleset=rs.name, file=rs.file, value=value,
                              note=f"{f.coefficient:g}·{'·'.join(parts)} with " + ", ".join(
                                  f"{k}={self.formula_vars[k]:.4g}" for k in sorted(f.terms)) + (
                                  f"; {f.note}" if f.note else "")))
        elif fixed is not None:
            rs, rule = fixed
            value = float(rule.value)
            chain.append(Step(kind="fixed", ruleset=rs.name, file=rs.file, value=value, note=rule.note or ""))
        for axis in AXES:
            for rs, rule, exponent in self.power.get(key, []):
                if rule.axis != axis or not rule.applies_to(kind, muon):
                    continue
                dim = None
                if axis == "lr_batch":
                    ratio = lr_batch
                elif axis == "width" and rule.ratio != "width":
                    dim = rule.ratio
                    ratio = fan_ratios[("fan_in", "fan_out", "spectral").index(dim)]
                else:
                    ratio = self.ratios[axis]
                factor = power(ratio, exponent)
                value = value * factor
                chain.append(Step(kind="power", ruleset=rs.name, file=rs.file, axis=axis, dim=dim, ratio=ratio,
                                  exponent=exponent, factor=factor, value=value, note=rule.note or ""))
        return value


def power(base: float, exponent: float) -> float:
    """``base ** exponent`` for a positive base, infinity where the float overflows (range-checked later)."""
    try:
        return base ** exponent
    except OverflowError:
        return math.inf

