"""The recipe's transfer rule sets, loaded in order; two that set the same thing differently are an error."""

from __future__ import annotations

from pathlib import Path

from recipec.diagnostics import Diagnostic, RecipecError
from recipec.load.yaml_source import SourceMap
from recipec.recipe import Recipe
from recipec.transfer.ruleset import RuleSet, load_ruleset


def load_rulesets(recipe: Recipe, base_dir: Path | None = None, smap: SourceMap | None = None,
                  file: str = "<recipe>") -> list[RuleSet]:
    smap = smap or SourceMap(file)
    sets: list[RuleSet] = []
    for i, item in enumerate(recipe.transfer):
        name, params = (item, {}) if isinstance(item, str) else (item.name, dict(item.params))
        where = smap.locate(("transfer", i))
        sets.append(load_ruleset(name, params, base_dir=base_dir, where=where, path_text=f"transfer[{i}]"))
    _check_conflicts(sets, smap)
    return sets


def _check_conflicts(sets: list[RuleSet], smap: SourceMap) -> None:
    """Two rule sets that set the same (axis, class, hp) differently are an error naming both files."""
    seen: dict[tuple, tuple[int, RuleSet, str]] = {}
    formulas: dict[tuple, tuple[int, RuleSet]] = {}
    touched: dict[tuple, list[tuple[int, RuleSet]]] = {}
    diags: list[Diagnostic] = []
    for i, rs in enumerate(sets):
        for rule, exponent in zip(rs.spec.rules, rs.exponents):
            spec = f"exponent {exponent:g}" if exponent is not None else f"fixed value {rule.value:g}"
            if rule.ratio != "width":
                spec += f" on the {rule.ratio.replace('_', '-')} ratio"
            if rule.kinds is not None:
                spec += f" for kinds {', '.join(rule.kinds)}"
            for cls in rule.classes():
                key = (rule.axis or "fixed", cls, rule.hp) + (("muon",) if rule.optimizer == "muon" else ())
                if rule.optimizer == "main":  # absolute formulas set the main optimizer's values only
                    touched.setdefault((cls, rule.hp), []).append((i, rs))
                if key in seen:
                    _, other, other_spec = seen[key]
                    if other_spec != spec:
                        where = "elsewhere in the same file" if other is rs else f"but {other.file} sets"
                        diags.append(Diagnostic(
                            f"rule sets conflict on ({', '.join(key)}): {rs.file} sets {spec} "
                            f"{where} {other_spec}",
                            path=f"transfer[{i}]", location=smap.locate(("transfer", i)),
                            hint="remove one of them or write a rule file that combines them",
                        ))
                    continue
                seen[key] = (i, rs, spec)
        for formula in rs.spec.formulas:
            for cls in formula.classes():
                key = (cls, formula.hp)
                if key in formulas and formulas[key][1] is not rs:
                    diags.append(Diagnostic(
                        f"rule sets conflict on the absolute formula for ({cls}, {formula.hp}): "
                        f"{formulas[key][1].file} and {rs.file} both set it",
                        path=f"transfer[{i}]", location=smap.locate(("transfer", i)),
                    ))
                formulas.setdefault(key, (i, rs))
    for (cls, hp), (i, frs) in formulas.items():
        for j, other in touched.get((cls, hp), []):
            if other is not frs:
                later = max(i, j)  # point at whichever of the two comes second in `transfer`
                diags.append(Diagnostic(
                    f"rule sets conflict on ({cls}, {hp}): {frs.file} sets it by an absolute formula, "
                    f"{other.file} scales it by a power law",
                    path=f"transfer[{later}]", location=smap.locate(("transfer", later)),
                ))
                break
    if diags:
        unique = list(dict.fromkeys(diags))
        raise RecipecError(unique)

