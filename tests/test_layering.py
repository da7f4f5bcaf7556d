"""The package's layering: imports point only down the data path, and torch stays off the compile/lint path.

Reads every module of ``recipec`` with ``ast`` (nothing is imported), so a violation anywhere — at module
level or inside a function (a lazy import is still a dependency) — fails here. The layers, top to bottom:

    __main__ → cli → schema → {lint, render, verify, inspect, explain} → {estimate, torch} → frameworks
    → transfer → {resolved, load} → shape → recipe → {kinds, io, resources} → diagnostics → recipec (__version__)

A module may import its own unit (``recipec.lint.engine`` → ``recipec.lint.base``) and any unit in a lower
layer, never one in its own layer or above. ``EXCEPTIONS`` lists the imports that go another way, each with
its reason.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "recipec"

LAYERS: tuple[frozenset[str], ...] = tuple(frozenset(layer) for layer in (
    {"__main__"},
    {"cli"},
    {"schema"},  # the JSON Schemas of the recipe, the rule sets and the verify report
    {"lint", "render", "verify", "inspect", "explain"},
    {"estimate", "torch"},  # verify imports estimate; verify and inspect use recipec.torch
    {"frameworks"},  # what we know of each framework: read by lint (RC603), render and inspect
    {"transfer"},
    {"resolved", "load"},
    {"shape"},
    {"recipe"},
    {"kinds", "io", "resources", "hardware"},  # hardware: the GPU table (estimate and verify)
    {"diagnostics"},
    {"recipec"},  # the package itself: __version__
))
UNIT_LAYER = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}

# (importing unit, imported unit): why it may go up or sideways. Keep this short.
EXCEPTIONS: dict[tuple[str, str], str] = {}

# Third-party packages that are heavy or need a GPU stack: only these units may import them at module level.
TORCH_PACKAGES = ("torch", "torchtitan", "transformers", "megatron")
TORCH_UNITS = frozenset({"verify", "inspect", "torch"})


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. recipec.lint.engine
    target: str  # the imported module, e.g. recipec.transfer
    line: int
    lazy: bool  # inside a function (or a class body), not at module level


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, text: str | None = None) -> list[Import]:
    """Every import in the file (or in ``text`` as that file), absolute or relative, and whether it is lazy."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8") if text is None else text, str(path))
    out: list[Import] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                out.extend(Import(module, a.name, child.lineno, lazy) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                out.append(Import(module, target, child.lineno, lazy))
                if target == "recipec" or (child.level and not child.module):
                    # `from recipec import x` / `from . import x` may name a submodule
                    out.extend(Import(module, f"{target}.{a.name}", child.lineno, lazy) for a in child.names
                               if (PACKAGE.parent / f"{target}/{a.name}".replace(".", "/")).exists()
                               or (PACKAGE.parent / (f"{target}.{a.name}".replace(".", "/") + ".py")).exists())
            visit(child, lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return out


def _unit(module: str) -> str:
    """The layer unit of a recipec module: its first component below the package (``recipec`` itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "recipec"


def _all_imports() -> list[Import]:
    return [imp for path in sorted(PACKAGE.rglob("*.py")) for imp in _imports(path)]


def direction_violations(imports: list[Import]) -> list[str]:
    bad = []
    for imp in imports:
        if not imp.target.startswith("recipec.") and imp.target != "recipec":
            continue
        src, dst = _unit(imp.module), _unit(imp.target)
        if src == dst or (src, dst) in EXCEPTIONS:
            continue
        if UNIT_LAYER[dst] <= UNIT_LAYER[src]:
            how = "lazily " if imp.lazy else ""
            bad.append(f"{imp.module}:{imp.line} {how}imports {imp.target} ({dst} is not below {src})")
    return bad


def torch_violations(imports: list[Import]) -> list[str]:
    return [f"{imp.module}:{imp.line} imports {imp.target} at module level"
            for imp in imports
            if not imp.lazy and imp.target.split(".")[0] in TORCH_PACKAGES and _unit(imp.module) not in TORCH_UNITS]


def test_every_unit_has_a_layer():
    units = {_unit(_module_name(p)) for p in PACKAGE.rglob("*.py")}
    assert units <= set(UNIT_LAYER), f"add these to LAYERS: {sorted(units - set(UNIT_LAYER))}"


def test_imports_point_down_the_layers():
    bad = direction_violations(_all_imports())
    assert not bad, "\n".join(bad)


def test_exceptions_are_still_needed():
    used = {(_unit(i.module), _unit(i.target)) for i in _all_imports() if i.target.startswith("recipec")}
    assert set(EXCEPTIONS) <= used, f"stale exceptions: {sorted(set(EXCEPTIONS) - used)}"


def test_lint_and_render_stay_apart():
    imports = _all_imports()
    lint = [i for i in imports if _unit(i.module) == "lint" and _unit(i.target) == "render"]
    render = [i for i in imports if _unit(i.module) == "render" and _unit(i.target) in ("lint", "verify", "cli")]
    assert lint == [] and render == []


def test_torch_only_in_verify_inspect_and_the_runtime_helper():
    bad = torch_violations(_all_imports())
    assert not bad, "\n".join(bad)


def test_the_checks_catch_a_violation():
    """The checks fail on a real violation: an upward import and a module-level torch import."""
    up = Import("recipec.transfer.engine", "recipec.render", 1, lazy=True)
    sideways = Import("recipec.lint.engine", "recipec.render.classes", 1, lazy=False)
    heavy = Import("recipec.resolved", "torch", 1, lazy=False)
    assert len(direction_violations([up, sideways])) == 2
    assert torch_violations([heavy]) != []
    assert torch_violations([Import("recipec.resolved", "torch", 1, lazy=True)]) == []


@pytest.mark.parametrize("text, lazy", [("from recipec.render import render\n", False),
                                        ("def f():\n    from recipec.cli import main\n", True)])
def test_imports_are_read_at_both_levels(text, lazy):
    found = _imports(PACKAGE / "transfer" / "_layering_probe.py", text)
    assert len(found) == 1 and found[0].lazy is lazy and found[0].module == "recipec.transfer._layering_probe"
    assert direction_violations(found) != []


# --------------------------------------------------------------------------- one definition of each vocabulary


def test_target_registries_agree():
    from recipec.frameworks import FRAMEWORKS, TARGETS
    from recipec.inspect import TARGETS as OBSERVERS
    from recipec.render import RUNNABLE
    from recipec.render import TARGETS as RENDERERS

    assert set(RENDERERS) == set(OBSERVERS) == set(TARGETS)
    assert RUNNABLE == FRAMEWORKS and set(FRAMEWORKS) < set(TARGETS)


def test_class_names_are_the_kinds_classes():
    from recipec.kinds import KIND_CLASS, PARAM_CLASSES
    from recipec.recipe import PerClassHyper

    assert set(KIND_CLASS.values()) == set(PARAM_CLASSES)
    assert tuple(PerClassHyper.model_fields) == PARAM_CLASSES


def test_resolve_warnings_carry_lint_code():
    from recipec.lint.checks import ruleset_optimizer
    from recipec.transfer.engine import RULESET_OPTIMIZER

    assert RULESET_OPTIMIZER == ruleset_optimizer.CODE
