"""The golden-file cases: every example × launcher, all targets; shared by the tests and regen_golden.py."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
EXAMPLES = {"llama-proxy": "8b", "completep-depth": "wide-deep", "moe-proxy": "xl"}  # example -> the size rendered
TARGETS = ("torchtitan", "megatron", "hf", "neutral")
# example -> the targets its golden files cover, where not all of TARGETS (each target adds its own)
TARGETS_OF = {"moe-proxy": ("torchtitan",)}
LAUNCHERS = ("torchrun", "slurm", "k8s")
CASES = [(ex, size, launcher) for ex, size in EXAMPLES.items() for launcher in LAUNCHERS]


def targets_of(example: str) -> tuple[str, ...]:
    return TARGETS_OF.get(example, TARGETS)


def render_case(example: str, size: str, launcher: str | None, targets=None, path: Path | None = None,
                display: str | None = None):
    """Render like ``recipec compile examples/<example>.yaml --size … --target … --launcher …`` (default: the
    example's golden targets)."""
    targets = targets_of(example) if targets is None else targets
    from recipec.cli import resolved_json
    from recipec.load import load_recipe
    from recipec.render import RenderedFile, render
    from recipec.transfer import resolve_loaded

    path = path or ROOT / "examples" / f"{example}.yaml"
    loaded = load_recipe(path, display=display or f"examples/{example}.yaml")
    resolved = resolve_loaded(loaded, size)
    return render(loaded, resolved, targets, launcher,
                  extra=(RenderedFile("resolved.json", resolved_json(resolved)),))


def case_dir(example: str, size: str, launcher: str) -> Path:
    return GOLDEN / example / size / launcher
