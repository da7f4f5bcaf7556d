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
from dataclasses import dataclass, field
from typing import Any, Iterator

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

    def power_rules(self, cls: str | None = None, hp: str | None = None, axis: str | None = None) -> list[PowerRule]:
        out = []
        for i, rs in enumerate(self.rulesets):
            for rule, exponent in zip(rs.spec.rules, rs.exponents):
                if exponent is None:
                    continue
                for c in rule.classes():
                    if (cls is None or c == cls) and (hp is None or rule.hp == hp) and (axis is None or rule.axis == axis):
                        out.append(PowerRule(rs.name, i, rule.axis, c, rule.hp, exponent))
        return out

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


def rel_change(a: float, b: float) -> float:
    """max(a/b, b/a) for positive numbers (how many times apart they are)."""
    if a <= 0 or b <= 0:
        return math.inf if a != b else 1.0
    return max(a / b, b / a)


def fmt(x: float) -> str:
    return f"{x:.4g}"


__all__ = ["Finding", "LintContext", "PowerRule", "VECTOR_LIKE", "PARAM_CLASSES", "rel_change", "fmt"]
