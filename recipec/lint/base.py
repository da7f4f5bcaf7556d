"""What a lint check sees (``LintContext``) and what it yields (``Finding``).

A check is a module under ``recipec.lint.checks`` with metadata constants and a ``check(ctx, options)``
generator. It anchors each finding to a *config path*; the engine turns the path into file:line:col
through the recipe's source map and stamps code and severity. Checks never format output and never
compute positions.

Transfer *rule sets* (``rules/*.yaml``, ``recipec.transfer.RuleSet``) are data that say how a value
scales; lint *checks* are the code here that looks for recipes that will not transfer.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from recipec.kinds import PARAM_CLASSES

VECTOR_LIKE: tuple[str, ...] = ("embedding", "output", "vector")


@dataclass(frozen=True)
class Finding:
    """One problem found by a check, anchored to a config path such as ``sizes.8b.overrides.hidden.lr``."""

    path: tuple | str
    message: str
    hint: str = ""
    prefer_key: bool = False  # point at the key rather than the value (for mappings and missing values)


@dataclass(frozen=True)
class PowerRule:
    """One power law of a loaded rule set, flattened to one parameter class."""

    ruleset: str
    index: int  # position of the rule set in ``transfer``
    axis: str
    cls: str
    hp: str
    exponent: float
    optimizer: str = "main"  # the rule's ``optimizer``: lr / weight_decay / eps of the main optimizer's or Muon's kinds
    ratio: str = "width"  # width rules: width, fan_in, fan_out or spectral
    kinds: tuple[str, ...] | None = None  # the kinds of its class the rule is restricted to (None: all)


@dataclass
class LintContext:
    """Everything a check may look at. Sizes that failed to resolve are absent from ``sizes``."""

    loaded: Any  # recipec.load.LoadedRecipe
    rulesets: list  # list[recipec.transfer.RuleSet]
    proxy: Any  # recipec.resolved.Resolved at the proxy
    sizes: dict[str, Any] = field(default_factory=dict)  # size name -> Resolved
    target: str = "neutral"  # torchtitan | megatron | hf | neutral

    @property
    def recipe(self):
        return self.loaded.recipe

    # ---- rule-set queries (what the transfer rule sets say, independent of any size)

    def power_rules(self, cls: str | None = None, hp: str | None = None, axis: str | None = None,
                    optimizer: str | None = "main") -> list[PowerRule]:
        """The power laws for (cls, hp, axis) (``None``: any). ``optimizer``: ``main`` (default) leaves out the
        ``optimizer: muon`` rules, which set only the Muon-trained kinds' lr and weight decay; ``muon`` keeps only
        those; ``None`` keeps both. Init and multiplier rules are ``main`` and act on every kind."""
        out = []
        for i, rs in enumerate(self.rulesets):
            for rule, exponent in zip(rs.spec.rules, rs.exponents):
                if exponent is None or (optimizer is not None and rule.optimizer != optimizer):
                    continue
                for c in rule.classes():
                    if ((cls is None or c == cls) and (hp is None or rule.hp == hp)
                            and (axis is None or rule.axis == axis)):
                        out.append(PowerRule(rs.name, i, rule.axis, c, rule.hp, exponent, rule.optimizer, rule.ratio,
                                             tuple(rule.kinds) if rule.kinds is not None else None))
        return out

    def rules_for_kind(self, kind: str, hp: str, axis: str | None = None, muon: bool = False) -> list[PowerRule]:
        """The power laws that act on one parameter kind's ``hp`` (as ``recipec.transfer`` applies them): the
        kind's class, its kind restriction, and the optimizer that trains it (``muon``)."""
        from recipec.kinds import KIND_CLASS

        opt = "muon" if muon and hp in ("lr", "weight_decay", "eps") else "main"
        return [r for r in self.power_rules(KIND_CLASS[kind], hp, axis, optimizer=opt)
                if r.kinds is None or kind in r.kinds]

    # ---- which optimizer trains what (Muon recipes: ``optimizer.muon``)

    def muon_kinds(self, res: Any = None) -> tuple[str, ...]:
        """The kinds of the model that Muon trains (at ``res``, default the proxy; empty without Muon)."""
        res = res if res is not None else self.proxy
        return tuple(k for k, v in res.kinds.items() if v.optimizer == "muon")

    def muon_only(self, cls: str, res: Any = None) -> bool:
        """Muon trains every kind of ``cls`` the model has: the main optimizer's class values reach no parameter."""
        res = res if res is not None else self.proxy
        own = [v for v in res.kinds.values() if v.cls == cls]
        return bool(own) and all(v.optimizer == "muon" for v in own)

    def main_kinds(self, cls: str, res: Any = None) -> tuple[str, ...]:
        """The kinds of class ``cls`` present in the model that the main optimizer (AdamW/Adam/SGD) trains:
        the ones its class values (``Resolved.classes[cls]``) are for."""
        res = res if res is not None else self.proxy
        return tuple(k for k, v in res.kinds.items() if v.cls == cls and v.optimizer != "muon")

    def fixed_value(self, cls: str, hp: str) -> tuple[str, int, float] | None:
        """(rule-set name, index in ``transfer``, value) of the first fixed value for (cls, hp), if any."""
        for i, rs in enumerate(self.rulesets):
            for rule in rs.spec.rules:
                if rule.value is not None and rule.hp == hp and cls in rule.classes():
                    return rs.name, i, float(rule.value)
        return None

    def has_formula(self, cls: str, hp: str) -> bool:
        return any(cls in f.classes() and f.hp == hp for rs in self.rulesets for f in rs.spec.formulas)

    def is_mup(self) -> bool:
        """A width rule set in the muP family: hidden Adam LR scaled by 1/width."""
        return any(math.isclose(r.exponent, -1.0) for r in self.power_rules("hidden", "lr", "width"))

    # ---- recipe paths

    def proxy_hp_path(self, cls: str, hp: str) -> tuple:
        """The config path that sets (cls, hp) at the proxy: the per-class override, else the shared value."""
        r = self.recipe
        if hp == "init_std":
            if getattr(r.init.per_class_std, cls, None) is not None:
                return ("init", "per_class_std", cls)
            return ("init", "std")
        per = getattr(r.optimizer.per_class, cls)
        if per is not None and getattr(per, hp) is not None:
            return ("optimizer", "per_class", cls, hp)
        return ("optimizer", hp)

    def size_path(self, name: str, *parts: str) -> tuple:
        """The deepest existing path under ``sizes.<name>`` among ``parts`` (falls back to the size key)."""
        smap = self.loaded.source_map
        for n in range(len(parts), 0, -1):
            path = ("sizes", name) + tuple(parts[:n])
            if smap.has(path):
                return path
        return ("sizes", name)

    def transfer_path(self, ruleset_index: int) -> tuple:
        return ("transfer", ruleset_index)

    def targets(self) -> Iterator[tuple[str, Any]]:
        """(name, Resolved) for every size that resolved, in recipe order."""
        yield from self.sizes.items()


def kind_value(res: Any, kind: str, hp: str):
    """A kind's effective ``Value`` of ``hp`` at ``res``: its own where it differs, else its class's."""
    own = getattr(res.kinds[kind], hp)
    return own if own is not None else getattr(res.classes[res.kinds[kind].cls], hp)


def width_factor(v: Any) -> float | None:
    """How many times the proxy's value ``v`` became along the width axis: the value at the size over the
    proxy's, less every other axis's power laws (batch, tokens, depth, …). A hand override counts as width (it
    replaces what the width rules gave). ``None`` where a fixed value or an absolute formula set it."""
    if v is None or v.proxy <= 0 or any(s.kind in ("fixed", "formula") for s in v.chain):
        return None
    other = math.prod(s.factor for s in v.chain if s.kind == "power" and s.axis != "width" and s.factor)
    return v.value / (v.proxy * other) if other > 0 else None


def exponent_of(factor: float, ratio: float) -> float:
    """The exponent e with ratio^e = factor (ratio ≠ 1)."""
    return math.log(factor) / math.log(ratio)


def rel_change(a: float, b: float) -> float:
    """max(a/b, b/a) for positive numbers (how many times apart they are)."""
    if a <= 0 or b <= 0:
        return math.inf if a != b else 1.0
    return max(a / b, b / a)


def fmt(x: float) -> str:
    return f"{x:.4g}"


__all__ = ["PARAM_CLASSES", "VECTOR_LIKE", "Finding", "LintContext", "PowerRule", "exponent_of", "fmt", "kind_value",
           "rel_change", "width_factor"]
