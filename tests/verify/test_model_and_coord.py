"""verify on the user's own model (--model), the coord check, honest time and plan, report files.

The coord checks below are the acceptance's examples at the CLI defaults but depth 1: four widths up to
256 with head_dim growing (examples/models/gpt-recipe.yaml keeps 2 heads), 10 steps, 3 seeds — a few
seconds each on two cores. Every verdict is asserted exactly.
"""

from __future__ import annotations

import json
import math
import os
import stat

import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402

from recipec.cli import main  # noqa: E402
from recipec.diagnostics import RecipecError  # noqa: E402
from recipec.load import load_recipe  # noqa: E402
from recipec.verify import ladder  # noqa: E402
from recipec.verify.coord_verdict import CoordTolerance, SlopeFit, fit_slope, judge, overall  # noqa: E402
from recipec.verify.factory import ModelSource, load_factory, parse_kind_map, rung_spec  # noqa: E402
from recipec.verify.spec import model_config  # noqa: E402
from recipec.verify.train import class_hyper  # noqa: E402
from tests.conftest import ROOT  # noqa: E402

TINY = ROOT / "tests" / "data" / "tiny.yaml"
MODELS = ROOT / "examples" / "models"
GPT_RECIPE = MODELS / "gpt-recipe.yaml"


def _run(*args):
    return CliRunner().invoke(main, ["verify", *map(str, args)])


# --------------------------------------------------------------------------- the factory protocol


def test_rung_spec_carries_the_resolved_shape_multipliers_and_init():
    loaded = load_recipe(GPT_RECIPE)
    rung = ladder.plan(loaded, "big", [32, 128], depth=2)[1]
    cfg = model_config(rung.resolved, 256, 32)
    spec = rung_spec(rung.resolved, cfg)
    assert (spec.width, spec.heads, spec.head_dim, spec.depth) == (128, 2, 64, 2)  # heads kept: head_dim grows
    assert spec.width_mult == 4 and spec.proxy_width == 32 and spec.proxy_head_dim == 16
    assert spec.output_multiplier == pytest.approx(1 / 4)
    assert spec.attn_logit_scale == pytest.approx(0.25 / 4)  # 1/√16 at the proxy, then 1/head_dim
    assert spec.init_std["q"] == pytest.approx(0.02 / 2) and spec.init_std["output"] == pytest.approx(0.02)
    assert spec.base_init_std == pytest.approx(0.02)


def test_user_model_groups_are_recipec_torch_per_kind_groups_with_the_compression():
    loaded = load_recipe(GPT_RECIPE)
    rung = ladder.plan(loaded, "big", [64], depth=2)[0]
    cfg = model_config(rung.resolved, 256, 32)
    source = ModelSource(load_factory(f"{MODELS / 'gpt.py'}:build"), "gpt")
    built = source.build(rung.resolved, cfg, class_hyper(rung.resolved, 3.0), 3.0, "cpu")
    groups = {g["name"]: g for g in built.groups}
    assert set(groups) == {"q", "o", "mlp_in", "mlp_out", "embedding", "output", "norm", "final_norm"}
    for kind in ("q", "mlp_out", "output"):
        c = rung.resolved.kind_coupled(kind)
        assert groups[kind]["lr"] == pytest.approx(c.lr) and groups[kind]["weight_decay"] == pytest.approx(
            3.0 * c.weight_decay)
    assert built.kinds["transformer.h.0.attn.c_attn.weight"] == "q"
    assert built.kinds["transformer.h.1.mlp.c_proj.weight"] == "mlp_out"
    assert built.kinds["lm_head.weight"] == "output"
    # the model initialised itself with the resolved stds
    w = dict(built.module.named_parameters())["transformer.h.0.mlp.c_fc.weight"]
    assert float(w.detach().std()) == pytest.approx(rung.resolved.kind_coupled("mlp_in").init_std, rel=0.05)


@pytest.mark.parametrize("spec,fragment", [
    ("nocolon", "--model: expected MODULE:CALLABLE"),
    ("/no/such/file.py:build", "--model: no such file: /no/such/file.py"),
    ("json:nothing_here", "--model: json has no callable 'nothing_here'"),
    ("no_such_module_xyz:build", "--model: importing no_such_module_xyz failed: ModuleNotFoundError"),
])
def test_factory_errors_are_located(spec, fragment):
    from recipec.verify.options import OptionError, flag_names

    with pytest.raises(OptionError) as e:  # the library names the option's field ...
        load_factory(spec)
    assert e.value.field == "model"
    with pytest.raises(RecipecError) as e, flag_names():  # ... the command line its flag
        load_factory(spec)
    assert fragment in e.value.diagnostics[0].format()


def test_factory_that_returns_no_module_and_kind_map_errors(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def build(spec):\n    return 42\n")
    result = _run(TINY, "--size", "big", "--device", "cpu", "-q", "--widths", "32,64", "--steps", "4",
                  "--model", f"{bad}:build", "--out", tmp_path)
    assert result.exit_code == 2, result.output
    assert "--model: " in result.output and "returned int, not a torch.nn.Module" in result.output
    assert parse_kind_map(["lm_head=output", r"\.wq\.=q"]) == {"lm_head": "output", r"\.wq\.": "q"}
    with pytest.raises(RecipecError, match="'nonsense' is not a kind"):
        parse_kind_map(["x=nonsense"])
    result = _run(TINY, "--size", "big", "--kind-map", "x=q")
    assert result.exit_code == 2 and "--kind-map: only with --model" in result.output


def test_verify_model_runs_the_ladder_on_the_user_model(tmp_path):
    result = _run(GPT_RECIPE, "--size", "big", "--device", "cpu", "-q", "--widths", "32,64", "--depth", "1",
                  "--steps", "12", "--batch", "2", "--seq-len", "16", "--checkpoints", "4",
                  "--model", f"{MODELS / 'gpt.py'}:build", "--out", tmp_path)
    assert result.exit_code == 1, result.output
    report = json.loads((tmp_path / "verify.json").read_text())
    assert report["model"].endswith("gpt.py:build")
    assert report["verdict"] == "inconclusive" and report["reasons"][0].startswith("run too short")
    assert {k["kind"] for k in report["kinds"]} == {"q", "o", "mlp_in", "mlp_out", "embedding", "output"}
    assert [r["head_dim"] for r in report["rungs"]] == [16, 32]


# --------------------------------------------------------------------------- the coord check


@pytest.mark.parametrize("model,failing", [
    ("gpt", set()),
    ("gpt_no_readout_multiplier", {"output"}),
    ("gpt_init_over_m", {"q", "o", "mlp_in", "mlp_out"}),
    ("gpt_attn_sqrt_scale", {"attn_logits"}),
])
def test_coord_check_passes_the_correct_model_and_flags_each_broken_kind(tmp_path, model, failing):
    old = os.umask(0o022)
    try:
        result = _run(GPT_RECIPE, "--size", "big", "--device", "cpu", "-q", "--coord-check", "--depth", "1",
                      "--model", f"{MODELS / model}.py:build", "--out", tmp_path)
    finally:
        os.umask(old)
    report = json.loads((tmp_path / "coord.json").read_text())
    assert report["widths"] == [32, 64, 128, 256] and report["head_dims"] == [16, 32, 64, 128]
    verdicts = {k["kind"]: k["verdict"] for k in report["kinds"]}
    assert set(report["first_failing"]) == failing, verdicts  # the broken kind fails first
    assert failing <= {k for k, v in verdicts.items() if v == "fail"}, verdicts
    assert report["verdict"] == ("fail" if failing else "pass"), verdicts
    assert result.exit_code == (1 if failing else 0), result.output
    assert not (tmp_path / "verify.json").exists()  # the coord check alone trains no ladder
    assert stat.S_IMODE((tmp_path / "coord.json").stat().st_mode) == 0o644
    assert "coord verdict:" in result.output


def test_coord_check_needs_four_widths():
    result = _run(TINY, "--size", "big", "--device", "cpu", "-q", "--coord-check", "--widths", "32,64,128")
    assert result.exit_code == 2 and "--widths: the coord check needs at least four widths (got 3)" in result.output


def test_coord_verdict_rules():
    tol = CoordTolerance(slope=0.25, max_ci=0.6)
    flat = [SlopeFit(t, 0.02, -0.05, 0.09, [1.0] * 4) for t in range(4)]
    assert judge("q", {"activation": flat, "update": flat}, tol).verdict == "pass"
    grows = flat[:2] + [SlopeFit(2, 1.0, 0.8, 1.2, [1.0] * 4)] + flat[3:]
    k = judge("output", {"activation": flat, "update": grows}, tol)
    assert k.verdict == "fail" and k.reasons[0].startswith("update slope +1.00 [+0.80, +1.20] at step 2 beyond")
    noisy = flat[:2] + [SlopeFit(2, 0.4, 0.1, 0.7, [1.0] * 4)] + flat[3:]
    assert judge("q", {"activation": noisy}, tol).verdict == "inconclusive"
    # the readout's and the attention's logits may vanish (one-sided), the hidden kinds' may not
    vanish = [SlopeFit(0, -0.5, -0.55, -0.45, [1.0] * 4)]
    assert judge("output", {"activation": vanish}, tol).verdict == "pass"
    assert judge("q", {"activation": vanish}, tol).verdict == "fail"
    # the first update is not judged (Adam's sign-like step)
    first = [SlopeFit(0, 0, 0, 0, [0] * 4), SlopeFit(1, -0.5, -0.6, -0.4, [1.0] * 4)]
    assert judge("q", {"update": first}, tol).verdict == "pass"
    # the attention scale the model passes against the resolved one
    scale = ([0.25, 0.177, 0.125], [0.25, 0.125, 0.0625])
    k = judge("attn_logits", {"activation": flat}, tol, scale, [32, 64, 128])
    assert k.verdict == "fail" and "gets scale 0.125 at width 128, the recipe resolves attn_logit_scale 0.0625" \
        in k.reasons[0]
    assert judge("attn_logits", {"activation": flat}, tol, ([0.25, 0.125], [0.25, 0.125]), [32, 64]).verdict == "pass"
    assert overall([judge("q", {"activation": flat}, tol), k])[0] == "fail"


def test_fit_slope_has_a_student_t_interval():
    widths = [32, 64, 128, 256]
    exact = fit_slope(widths, [[w ** 0.5] * 3 for w in widths], 0, 0.95)
    assert exact.slope == pytest.approx(0.5) and exact.ci_high - exact.ci_low < 1e-6
    noisy = fit_slope(widths, [[w ** 0.5 * (1 + 0.1 * s) for s in (-1, 0, 1)] for w in widths], 0, 0.95)
    assert noisy.ci_low < 0.5 < noisy.ci_high and noisy.ci_high - noisy.ci_low > 0.05
    single = fit_slope(widths, [[1.0] for _ in widths[:2]] + [[1.0] for _ in widths[2:]], 0, 0.95)
    assert math.isfinite(single.ci_low)  # 4 points, 2 degrees of freedom


# --------------------------------------------------------------------------- honest verdicts, time, plan


def test_a_ten_step_run_is_inconclusive_with_the_reason(tmp_path):
    result = _run(TINY, "--size", "big", "--device", "cpu", "-q", "--widths", "32,64", "--depth", "1", "--steps", "10",
                  "--batch", "2", "--seq-len", "16", "--checkpoints", "5", "--out", tmp_path)
    assert result.exit_code == 1, result.output
    report = json.loads((tmp_path / "verify.json").read_text())
    assert report["verdict"] == "inconclusive"
    assert report["reasons"][0].startswith("run too short for its timescale")
    assert "run at least 100 steps" in report["reasons"][0]
    assert report["reasons"][1].startswith("provisionally ")


def test_too_short_rule():
    from types import SimpleNamespace as NS

    from recipec.verify.run import too_short

    assert too_short([NS(tau_steps=4.0)], 5.0, 20).startswith("run too short for its timescale: after the")
    assert too_short([NS(tau_steps=40.0)], 2.0, 80).startswith("run too short for its timescale: the slowest rung "
                                                                 "sees 2.00 AdamW timescales")
    assert too_short([NS(tau_steps=40.0)], 5.0, 200) is None
    assert too_short([NS(tau_steps=None)], None, 10) is None  # no weight decay: the plateau test decides


def test_the_plan_is_printed_before_training_and_progress_has_an_eta(tmp_path):
    result = CliRunner().invoke(main, ["verify", str(TINY), "--size", "big", "--device", "cpu", "--widths", "32,64",
                                       "--depth", "1", "--steps", "12", "--batch", "2", "--seq-len", "16",
                                       "--checkpoints", "3", "--out", str(tmp_path)])
    err = result.stderr
    assert err.index("plan: reference LLaMA-style model; widths 32, 64") < err.index("rung 1/2 width 32")
    assert "total ≈" in err and "budget 5 min 00 s" in err
    assert "ms/step measured" in err and "→ rung ≈" in err and "ladder ETA" in err
    assert "step 12/12 loss" in err and "· elapsed" in err and "· ETA" in err
    report = json.loads((tmp_path / "verify.json").read_text())
    for rung in report["rungs"]:
        assert rung["time_estimate_seconds"] > 0 and rung["time_reestimate_seconds"] > 0
        assert 0 < rung["sigma_seconds"] < rung["seconds"]


def test_a_plan_beyond_the_budget_is_refused_before_training():
    small = CliRunner().invoke(main, ["verify", str(TINY), "--size", "big", "--device", "cpu", "--widths",
                                      "32,64,128,256", "--depth", "2", "--steps", "200", "--budget", "0.0001"])
    assert small.exit_code == 2, small.output
    assert "--budget: the plan needs about" in small.output and "no ladder of two or more of these widths fits" \
        in small.output
    assert "rung 1/4" not in small.output


def test_over_budget_message_names_the_command_that_fits():
    from recipec.verify.budget import command_with, over_budget
    from recipec.verify.options import VerifyOptions

    assert command_with(["recipec", "verify", "r.yaml", "--widths", "1,2,3", "-q"], "--widths", "1,2") == \
        "recipec verify r.yaml -q --widths 1,2"
    loaded = load_recipe(TINY)
    opts = VerifyOptions(size="big", steps=200, command=["recipec", "verify", "r.yaml", "--size", "big"])
    rungs = ladder.plan(loaded, "big", [32, 64, 128, 256], depth=2)

    def cost(r, steps):
        return ladder.rung_cost(r, 256, 8, 64, steps, False, None, 20, 1e10, 0.01)

    costs = [cost(r, 200) for r in rungs]
    budget = sum(c.seconds for c in costs[:3]) * 1.01
    text = over_budget(loaded, opts, [32, 64, 128, 256], costs, cost, 2, budget, None)
    assert "(the CPU default; --budget MINUTES allows more)" in text
    assert text.endswith("recipec verify r.yaml --size big --widths 32,64,128")


def test_duration_and_public_writes(tmp_path):
    from recipec.verify.progress import duration
    from recipec.verify.report import write_public

    assert [duration(x) for x in (3.21, 42, 125, 7300)] == ["3.2 s", "42 s", "2 min 05 s", "2 h 01 min"]
    old = os.umask(0o027)
    try:
        write_public(tmp_path / "a.json", "{}\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o640  # honours the umask


def test_coord_check_also_runs_before_the_ladder_in_the_same_report(tmp_path):
    result = _run(TINY, "--size", "big", "--device", "cpu", "-q", "--coord-check", "also", "--widths",
                  "32,64,128,256", "--depth", "1", "--steps", "12", "--batch", "2", "--seq-len", "16",
                  "--checkpoints", "3", "--coord-steps", "3", "--coord-seeds", "2", "--out", tmp_path)
    report = json.loads((tmp_path / "verify.json").read_text())
    coord = report["coord"]
    assert coord["widths"] == [32, 64, 128, 256] and coord["steps"] == 3 and coord["seeds"] == 2
    # the ladder is too short (inconclusive); a failing coord check makes the run fail
    assert report["verdict"] == ("fail" if coord["verdict"] == "fail" else "inconclusive")
    assert result.exit_code == 1, result.output
    assert "## Coord check:" in (tmp_path / "verify.md").read_text()
    assert "coord verdict:" in result.output and not (tmp_path / "coord.json").exists()


def test_rungs_follow_a_size_that_keeps_the_head_count():
    """gpt-recipe's size keeps the proxy's 2 heads, so head_dim grows with width there and on the rungs;
    tiny.yaml's size keeps head_dim, so the rungs do too."""
    gpt = ladder.plan(load_recipe(GPT_RECIPE), "big", [32, 64, 128], depth=1)
    assert [(r.resolved.shape.heads, r.resolved.shape.head_dim) for r in gpt] == [(2, 16), (2, 32), (2, 64)]
    assert [r.resolved.multipliers.attn_logit_scale.value for r in gpt] == pytest.approx([0.25, 0.125, 0.0625])
    tiny = ladder.plan(load_recipe(TINY), "big", [32, 64, 128], depth=1)
    assert [(r.resolved.shape.heads, r.resolved.shape.head_dim) for r in tiny] == [(2, 16), (4, 16), (8, 16)]
