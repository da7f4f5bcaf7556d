"""``recipec inspect OUT_DIR``: prove that a framework applies the compiled numbers to every parameter.

A config that a framework's parser accepts can still train a weight with the wrong LR. ``inspect``
reads a compile output directory — ``resolved.json`` and the files a user would launch, so a hand
edit is caught too — builds the target framework's own model from those files with the framework's
own code, runs the framework's own optimizer construction, and reads back every parameter's group
(lr, weight_decay, eps, betas), the forward multipliers the framework applies, and, with
``--shrink``, the init std measured after the framework's own initialisation on a small model with the
same parameter kinds. Each value stands beside the resolved one (``recipec.inspect.compare``).

Observers, one module per target (``TARGETS``), imported only when selected; torch and the frameworks
are imported only there. Exit codes (CLI): 0 all agree, 1 a difference, 2 framework missing or bad input.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from recipec.diagnostics import Diagnostic, Location, RecipecError
from recipec.inspect.compare import Report, compare
from recipec.inspect.observed import FrameworkMissing, Observation, ParamRow

__all__ = ["TARGETS", "inspect_dir", "load_resolved", "targets_in", "report_text", "report_json", "Report",
           "FrameworkMissing", "Observation", "ParamRow"]

# target -> (observer module, the file that marks the target's output in a compile directory)
TARGETS: dict[str, tuple[str, str]] = {
    "torchtitan": ("recipec.inspect.torchtitan", "recipec_torchtitan.py"),
    "megatron": ("recipec.inspect.megatron", "megatron_pretrain.py"),
    "hf": ("recipec.inspect.hf", "hf_train.py"),
    "neutral": ("recipec.inspect.neutral", "param_groups.json"),
}
MAX_RESOLVED_BYTES = 16 * 1024 * 1024


def load_resolved(out_dir: Path):
    """The ``Resolved`` in ``out_dir/resolved.json`` (a regular file, bounded read, validated)."""
    from pydantic import ValidationError

    from recipec.resolved import Resolved

    path = Path(out_dir) / "resolved.json"
    display = str(path)
    if not path.exists():
        raise RecipecError(Diagnostic("no resolved.json: is this a `recipec compile` output directory?",
                                      location=Location(display)))
    if not path.is_file():
        raise RecipecError(Diagnostic("resolved.json is not a regular file", location=Location(display)))
    with open(path, "rb") as f:
        data = f.read(MAX_RESOLVED_BYTES + 1)
    if len(data) > MAX_RESOLVED_BYTES:
        raise RecipecError(Diagnostic(f"resolved.json is larger than {MAX_RESOLVED_BYTES} bytes",
                                      location=Location(display, 1, 1)))
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        line, col = (getattr(e, "lineno", 1), getattr(e, "colno", 1))
        raise RecipecError(Diagnostic(f"resolved.json is not valid JSON: {getattr(e, 'msg', e)}",
                                      location=Location(display, line, col))) from None
    try:
        return raw, Resolved.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise RecipecError(Diagnostic(f"resolved.json does not match this recipec version: {first.get('msg')}",
                                      path=where, location=Location(display, 1, 1),
                                      hint="compile again with this recipec version")) from None


def targets_in(out_dir: Path) -> list[str]:
    """The targets whose files are in a compile output directory."""
    return [t for t, (_, marker) in TARGETS.items() if (Path(out_dir) / marker).is_file()]


def inspect_dir(out_dir: Path, target: str, *, shrink: bool = False) -> Report:
    """Observe ``target``'s model and optimizer built from ``out_dir``, and compare with resolved.json."""
    out_dir = Path(out_dir)
    raw, resolved = load_resolved(out_dir)
    if target not in TARGETS:
        raise RecipecError(Diagnostic(f"unknown target {target!r}; known: {', '.join(TARGETS)}", path="--target"))
    module, marker = TARGETS[target]
    if not (out_dir / marker).is_file():
        raise RecipecError(Diagnostic(f"no {marker} in {out_dir}: compile with --target {target} first",
                                      path="--target"))
    observation = importlib.import_module(module).observe(out_dir, raw, shrink=shrink)
    return compare(resolved, observation)


# --------------------------------------------------------------------------- output


def _f(x) -> str:
    return "-" if x is None else f"{x:.6g}"


def report_text(report: Report) -> str:
    obs = report.observation
    lines = [f"{report.target}: {len(report.rows)} parameters" + (
        f" at {', '.join(f'{k} {v}' for k, v in obs.shape.items())}" if obs.shape else "")]
    for n in obs.notes:
        lines.append(f"  note: {n}")
    header = ("parameter", "kind", "lr", "weight_decay", "eps", "init_std", "×", "")
    table = [header]
    for r in report.rows:
        by = {c.what: c for c in r.checks}
        cells = [r.row.name, r.row.kind + ("+" + "+".join(r.row.fused) if r.row.fused else "")
                 + (f" ({r.row.optimizer})"
                    if r.row.optimizer == "muon" or by.get("optimizer") and not by["optimizer"].ok
                    else "")]
        for what in ("lr", "weight_decay", "eps", "init_std"):
            c = by.get(what)
            if c is None:
                cells.append(_f(getattr(r.row, what)) if what != "init_std" else "-")
            elif c.ok:
                cells.append(_f(c.got))
            else:
                cells.append(f"{_f(c.got)}≠{_f(c.want)}")
        cells.append("" if r.lowered == 1.0 and r.row.multiplier == 1.0 else
                     f"{_f(r.row.multiplier * r.lowered)}" + (" lowered" if r.lowered != 1.0 else ""))
        cells.append("ok" if r.ok else "DIFFERS")
        table.append(tuple(cells))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        lines.append("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    for g in report.gaps:
        lines.append(f"  gap (RC603): {g}")
    diffs = report.differences
    if diffs:
        lines.append(f"{report.target}: {len(diffs)} differences")
        lines += [f"  {d}" for d in diffs]
    else:
        lines.append(f"{report.target}: every parameter agrees with resolved.json")
    return "\n".join(lines) + "\n"


def report_json(report: Report) -> dict:
    obs = report.observation
    rows = []
    for r in report.rows:
        rows.append({
            "name": r.row.name, "kind": r.row.kind, "fused": list(r.row.fused), "shape": list(r.row.shape),
            "optimizer": r.row.optimizer,
            "lowered_multiplier": r.lowered, "native_multiplier": r.row.multiplier,
            "checks": {c.what: {"got": c.got, "want": c.want, "ok": c.ok, **({"note": c.note} if c.note else {})}
                       for c in r.checks},
            "ok": r.ok,
        })
    return {"target": report.target, "shape": obs.shape, "notes": list(obs.notes), "native_multipliers": obs.native,
            "rows": rows, "gaps": list(report.gaps), "differences": report.differences, "ok": report.ok}
