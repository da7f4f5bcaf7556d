"""``recipec verify --calibrate``: fit the hidden weight-decay width exponent from a ladder's σ slopes.

Under σ_top ∝ √(η/λ)·d^a (Fan et al. 2025), raising the coupled weight decay's width exponent from e to
e' multiplies σ at width ratio m by m^-(e'-e)/2, so a measured slope s of log σ against log width is
flattened by e' = e + 2·s. The matrix-like kinds (q, k, v, o, MLP in/out) share one "hidden" class in a
rule set, so the fit uses the mean of their slopes (each kind's own e' is reported too).

The calibrated rule set is the width rule set's file with that one exponent replaced, named
``<name>-calibrated`` and citing the run; the confirming ladder uses it in place of the original.
Honest by construction: nothing is fitted from a ladder short of steady state (``not_at_steady_state``),
and the file is a confirmed ``<name>-calibrated.yaml`` only after the confirming ladder passes —
otherwise ``<name>-calibrated.unconfirmed.yaml`` with an UNCONFIRMED header, and verify exits 1.
No torch here.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from recipec.verify.options import OptionError
from recipec.verify.verdict import JUDGED_KINDS


@dataclass(frozen=True)
class Calibration:
    ruleset: str  # the rule set whose hidden WD width exponent is calibrated
    ruleset_file: str
    transfer_index: int
    exponent: float  # e, as resolved
    slope: float  # mean slope over the judged kinds
    fitted: float  # e' = e + 2 s
    per_kind: dict[str, float]  # kind -> e + 2 s_kind

    def summary_json(self, rules_file: Path, before: str, after: str, confirmed: bool = False) -> str:
        import json

        return json.dumps({"ruleset": self.ruleset, "exponent": self.exponent, "mean_slope": self.slope,
                           "fitted_exponent": self.fitted, "per_kind_exponent": self.per_kind,
                           "calibrated_rules": str(rules_file), "before": before, "after": after,
                           "confirmed": confirmed}, indent=2) + "\n"


def hidden_wd_width_rule(resolved) -> tuple[str, float]:
    """(rule-set name, exponent) of the width power law on hidden weight decay in a resolved recipe."""
    for step in resolved.classes["hidden"].weight_decay.chain:
        if step.kind == "power" and step.axis == "width":
            return step.ruleset, step.exponent
    raise OptionError("calibrate", "needs a rule set with a width rule for hidden weight decay "
                                  "(fan2025, mup-adamw, mup-megatron, or a file of your own)")


def fit(report, resolved, transfer: list) -> Calibration:
    name, exponent = hidden_wd_width_rule(resolved)
    slopes = {k.kind: k.slope for k in report.kinds if k.kind in JUDGED_KINDS}
    if not slopes:
        raise OptionError("calibrate", "no σ slopes to calibrate from (a rung diverged)")
    mean = sum(slopes.values()) / len(slopes)
    info = next(rs for rs in resolved.rulesets if rs.name == name)
    index = next(i for i, item in enumerate(transfer)
                 if (item if isinstance(item, str) else item.name) in (name, info.file))
    return Calibration(ruleset=name, ruleset_file=info.file, transfer_index=index, exponent=exponent, slope=mean,
                       fitted=exponent + 2 * mean, per_kind={k: exponent + 2 * s for k, s in slopes.items()})


def calibrated_ruleset_text(cal: Calibration, report, source_path: Path) -> str:
    """The width rule set's YAML with the hidden WD width exponent replaced and the run cited."""
    from ruamel.yaml import YAML

    from recipec.load.yaml_source import read_text

    yaml = YAML(typ="rt", pure=True)
    data = yaml.load(read_text(source_path))
    replaced = False
    for rule in data.get("rules", []):
        if rule.get("axis") == "width" and rule.get("class") in ("hidden", "all") and rule.get("hp") == "weight_decay":
            rule["exponent"] = round(cal.fitted, 4)
            rule["note"] = (f"calibrated by recipec verify: {cal.exponent:g} + 2 × slope {cal.slope:+.4f} "
                            f"(was {cal.exponent:g})")
            replaced = True
    if not replaced:
        raise OptionError("calibrate", f"{cal.ruleset_file}: no width rule for hidden weight decay to calibrate")
    data["name"] = f"{cal.ruleset}-calibrated"
    data["title"] = f"{data.get('title', cal.ruleset)} — hidden weight-decay exponent calibrated to {cal.fitted:.3f}"
    stamp = datetime.date.today().isoformat()
    widths = ", ".join(map(str, report.widths))
    data["source"]["citation"] = (
        f"recipec verify --calibrate on {report.recipe_file} ({report.recipe_name} → {report.size}), widths "
        f"{widths}, depth {report.depth}, {report.steps} steps, {report.device}, {stamp}; based on "
        f"{data['source']['citation']}")
    import io

    buf = io.StringIO()
    yaml.dump(data, buf)
    body = "".join(line for line in buf.getvalue().splitlines(keepends=True)
                   if not line.startswith("# yaml-language-server:"))  # the original's relative schema path
    return ("# yaml-language-server: $schema=https://recipec.dev/schemas/ruleset.schema.json\n"
            "# generated by recipec verify --calibrate: a fitted rule set; keep the report beside it\n" + body)


def not_at_steady_state(report) -> str | None:
    """Why a ladder's σ slopes cannot be fitted (None: every judged kind plateaued on every rung of a run
    long enough for its timescale, and no rung diverged). A fit from σ still moving measures the approach
    to steady state, not the width dependence of the steady state that the exponent is about."""
    diverged = [f"width {r.width}: {r.diverged}" for r in report.rungs if r.diverged]
    if diverged:
        return "a rung diverged (" + "; ".join(diverged) + ")"
    short = next((r for r in report.reasons if r.startswith("run too short for its timescale")), None)
    if short:
        return short
    moving = [(k.kind, [w for w, f in zip(report.widths, k.plateaued) if not f]) for k in report.kinds
              if k.judged and not all(k.plateaued)]
    if moving:
        return "σ has not plateaued: " + "; ".join(f"{kind} at width {', '.join(map(str, ws))}" for kind, ws in moving)
    return None


UNCONFIRMED_HEADER = ("# UNCONFIRMED: the confirming ladder with this rule set was {verdict}, not pass; do not use it "
                      "for a target run without a passing recipec verify\n")


def calibrate_and_confirm(loaded, opts, before, out: Path):
    """Fit from ``before`` (only at steady state), write the rule set and re-run the same ladder (same steps)
    with it in place of the original. The rule set is written as ``<ruleset>-calibrated.unconfirmed.yaml``
    for the confirming run and becomes ``<ruleset>-calibrated.yaml`` only when that run passes; otherwise it
    keeps its name and an UNCONFIRMED header. Returns (calibration, confirming report, rule file, confirmed);
    (None, None, None, reason) when ``before`` is not at steady state (nothing is fitted or written)."""
    import dataclasses

    from recipec.load import LoadedRecipe
    from recipec.resources import rules_dir
    from recipec.transfer import resolve_loaded
    from recipec.verify.report import write_public
    from recipec.verify.run import run_verify

    problem = not_at_steady_state(before)
    if problem is not None:
        return None, None, None, problem
    resolved = resolve_loaded(loaded, opts.size)
    cal = fit(before, resolved, list(loaded.recipe.transfer))
    builtin = next(rs for rs in resolved.rulesets if rs.name == cal.ruleset).file.startswith("rules/")
    source = rules_dir() / f"{cal.ruleset}.yaml" if builtin else Path(loaded.path).parent / cal.ruleset_file
    rules_file = (out / f"{cal.ruleset}-calibrated.unconfirmed.yaml").resolve()
    text = calibrated_ruleset_text(cal, before, source)
    write_public(rules_file, UNCONFIRMED_HEADER.format(verdict="still running") + text)  # every rank: same bytes
    transfer = list(loaded.recipe.transfer)
    item = transfer[cal.transfer_index]
    transfer[cal.transfer_index] = str(rules_file) if isinstance(item, str) else item.model_copy(
        update={"name": str(rules_file)})
    calibrated = LoadedRecipe(recipe=loaded.recipe.model_copy(update={"transfer": transfer}),
                              source_map=loaded.source_map, path=loaded.path, sha256=loaded.sha256, text=loaded.text)
    after = run_verify(calibrated, dataclasses.replace(opts, steps=before.steps, coord=None))
    from recipec.verify.distributed import is_primary

    if after.verdict == "pass":
        confirmed = rules_file.with_name(f"{cal.ruleset}-calibrated.yaml")
        if is_primary():
            write_public(confirmed, text)
            rules_file.unlink(missing_ok=True)
        return cal, after, confirmed, True
    if is_primary():
        write_public(rules_file, UNCONFIRMED_HEADER.format(verdict=after.verdict) + text)
    return cal, after, rules_file, False


def calibrate_and_report(loaded, opts, before, out: Path, echo):
    """``--calibrate`` after the first ladder: fit (only at steady state), write the calibrated rule set,
    re-run the ladder with it; write both reports and ``calibration.json`` and ``echo`` them (rank 0).
    Returns the report the exit code follows: the confirming one, or ``before`` when nothing was fitted."""
    import json

    from recipec.verify.distributed import is_primary
    from recipec.verify.report import write_outputs, write_public
    from recipec.verify.report_text import terminal

    paths = []
    if is_primary():  # the first ladder's report is kept even if the confirming run is cut short
        paths = write_outputs(before, out / "before")
        echo("before:\n" + terminal(before) + "\n")
    cal, after, rules_file, confirmed = calibrate_and_confirm(loaded, opts, before, out)
    summary = out / "calibration.json"
    if cal is None:  # not at steady state: no fit, no rule set
        if is_primary():
            write_public(summary, json.dumps({"fitted": False, "confirmed": False, "reason": confirmed,
                                              "before": before.verdict}, indent=2) + "\n")
            echo(f"calibrate: nothing fitted, no rule set written — the ladder is not at steady state: {confirmed}\n")
            echo("wrote " + ", ".join(str(p) for p in paths + [summary]) + "\n", err=True)
        return before.model_copy(update={"verdict": "inconclusive" if before.verdict == "pass" else before.verdict})
    if not is_primary():  # under torchrun: rank 0 reports
        return after
    paths += write_outputs(after, out / "after")
    write_public(summary, cal.summary_json(rules_file, before.verdict, after.verdict, confirmed))
    state = ("confirmed: the ladder with it passes" if confirmed else
             f"UNCONFIRMED: the confirming ladder was {after.verdict}, not pass")
    echo(f"calibrated {cal.ruleset}: hidden weight decay ∝ m^{cal.exponent:g} → m^{cal.fitted:.3f} (mean slope "
         f"{cal.slope:+.3f}; per kind " + ", ".join(f"{k} {v:.2f}" for k, v in cal.per_kind.items())
         + f"); {state}; wrote {rules_file}\n\n")
    echo("after (confirming run with the calibrated rule set):\n" + terminal(after))
    echo("wrote " + ", ".join(str(p) for p in paths + [summary]) + "\n", err=True)
    return after
