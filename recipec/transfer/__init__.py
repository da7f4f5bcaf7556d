"""Transfer: rule sets (``rules/*.yaml``) and ``resolve(recipe, size) -> Resolved``."""

from recipec.transfer.engine import (
    PROXY,
    coupled_to_independent,
    independent_to_coupled,
    load_rulesets,
    rebase,
    resolve,
)
from recipec.transfer.ruleset import RuleSet, RuleSetFile, builtin_names, load_ruleset

__all__ = [
    "PROXY", "RuleSet", "RuleSetFile", "builtin_names", "coupled_to_independent", "independent_to_coupled",
    "load_ruleset", "load_rulesets", "rebase", "resolve", "resolve_loaded",
]


def resolve_loaded(loaded, size=None, rulesets=None):
    """resolve() for a ``LoadedRecipe``: errors point into its file, relative rule paths resolve beside it."""
    from pathlib import Path

    base = Path(loaded.path).parent if not loaded.path.startswith("<") else None
    return resolve(loaded.recipe, size, file=loaded.path, sha256=loaded.sha256, source_map=loaded.source_map,
                   base_dir=base, rulesets=rulesets, overrides=getattr(loaded, "overrides", ()))
