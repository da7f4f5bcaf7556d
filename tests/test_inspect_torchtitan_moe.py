"""torchtitan 0.3 mixture of experts and Muon (issue 15).

MoE: the torchtitan target renders a Qwen3-MoE model (recipec.render.torchtitan); building that model and its
optimizer from the written file (recipec.inspect.torchtitan, on the meta device and shrunk on CPU) gives every
routed-expert, shared-expert and router parameter its own kind's LR, weight decay, eps and init std — with the
residual multiplier lowered into the experts' down projections — and a hand edit of one group shows up as a
difference (``recipec inspect`` exit 1). Muon: torchtitan's DistMuon cannot carry per-kind Muon numbers nor be
built off CUDA, so ``compile -t torchtitan`` refuses a Muon recipe (exit 2, located) and lint lists the gap.

The torchtitan-building tests need torchtitan 0.3 (the ``frameworks`` extra).
"""

from __future__ import annotations

import importlib.util
import math
import re

import pytest
from click.testing import CliRunner
from golden_cases import ROOT

needs_torchtitan = pytest.mark.skipif(importlib.util.find_spec("torchtitan") is None, reason="torchtitan not installed")

MOE = ROOT / "tests" / "data" / "moe-distinct.yaml"
MOE_EXAMPLE = ROOT / "examples" / "moe-proxy.yaml"
MUON_EXAMPLE = ROOT / "examples" / "muon-proxy.yaml"
REL = 1e-9
MOE_KINDS = ("expert_in", "expert_out", "shared_in", "shared_out", "router")
# torchtitan 0.3 Qwen3-MoE names -> kinds, written out here independently of recipec.frameworks.torchtitan
NAME_KINDS = (
    (r"\.moe\.routed_experts\.inner_experts\.w[13]_EFD$", "expert_in"),
    (r"\.moe\.routed_experts\.inner_experts\.w2_EDF$", "expert_out"),
    (r"\.moe\.shared_experts\.w[13]\.weight$", "shared_in"), (r"\.moe\.shared_experts\.w2\.weight$", "shared_out"),
    (r"\.moe\.router\.gate\.weight$", "router"),
    (r"\.attention\.qkv_linear\.wqkv\.weight$", "q"), (r"\.attention\.wo\.weight$", "o"),
    (r"\.(attention|ffn)_norm\.weight$", "norm"), (r"\.attention\.[qk]_norm\.weight$", "qk_norm"),
    (r"^norm\.weight$", "final_norm"), (r"^tok_embeddings\.weight$", "embedding"), (r"^lm_head\.weight$", "output"),
)
# the kinds whose forward multiplier torchtitan cannot apply and recipec lowers into the weight
LOWERED = {"o": "residual_multiplier", "expert_out": "residual_multiplier", "shared_out": "residual_multiplier",
           "output": "output_multiplier"}


def name_kind(name):
    return next(kind for pat, kind in NAME_KINDS if re.search(pat, name))


def truncated_std(a):
    phi = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    return math.sqrt(1 - 2 * a * phi / math.erf(a / math.sqrt(2)))


def want(r, kind):
    c = r.kind_coupled(kind)
    s = getattr(r.multipliers, LOWERED[kind]).value if kind in LOWERED else 1.0
    return {"lr": c.lr * s, "weight_decay": c.weight_decay / s, "eps": c.eps / s,
            "init_std": None if c.init_std is None else c.init_std * s}


def compile_to(out, path, size):
    from recipec.cli import resolved_json
    from recipec.load import load_recipe
    from recipec.render import RenderedFile, render
    from recipec.transfer import resolve_loaded

    loaded = load_recipe(path)
    r = resolve_loaded(loaded, size)
    rendered = render(loaded, r, ["torchtitan"], extra=(RenderedFile("resolved.json", resolved_json(r)),))
    out.mkdir(parents=True, exist_ok=True)
    for f in rendered.files:
        (out / f.path).write_text(f.text, encoding="utf-8")
    import json

    return r, json.loads((out / "resolved.json").read_text(encoding="utf-8")), rendered


def problems_of(r, obs, shrink):
    problems, kinds = [], set()
    for row in obs.rows:
        kind = name_kind(row.name)
        assert row.kind == kind, (row.name, row.kind)
        kinds.add(kind)
        w = want(r, kind)
        for key in ("lr", "weight_decay", "eps"):
            if not math.isclose(getattr(row, key), w[key], rel_tol=REL):
                problems.append((row.name, key))
        if shrink and w["init_std"] is not None:
            expected = w["init_std"] * (truncated_std(row.init_truncation) if row.init_truncation else 1.0)
            if abs(row.init_std - expected) > 5 * expected / math.sqrt(2 * row.init_numel):
                problems.append((row.name, "init_std"))
    return kinds, problems


@pytest.fixture(scope="module", params=[None, "wide"], ids=["proxy", "wide"])
def moe(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"moe-{request.param}")
    r, raw, rendered = compile_to(out, MOE, request.param)
    return out, r, raw, rendered


def test_moe_kinds_resolve_apart_in_the_test_recipe(moe):
    """The premise of the tests below: every MoE kind has its own numbers (so a swap cannot pass)."""
    _, r, _, _ = moe
    for key in ("lr", "weight_decay", "eps", "init_std"):
        values = [want(r, k)[key] for k in (*MOE_KINDS, "q", "o")]
        assert len({round(v, 15) for v in values}) == len(values), key


@pytest.mark.frameworks
@needs_torchtitan
@pytest.mark.parametrize("shrink", [False, True], ids=["meta", "shrink"])
def test_every_moe_parameter_has_its_kinds_numbers(moe, shrink):
    from recipec.inspect.compare import compare
    from recipec.inspect.torchtitan import observe

    out, r, raw, _ = moe
    obs = observe(out, raw, shrink=shrink)
    kinds, problems = problems_of(r, obs, shrink)
    assert not problems
    assert kinds == {"q", "o", *MOE_KINDS, "embedding", "norm", "qk_norm", "final_norm"}  # tied: no lm_head row
    assert not any("feed_forward" in row.name for row in obs.rows)
    shape = obs.shape
    e, d, fe, fs = shape["num_experts"], shape["width"], shape["expert_ffn_hidden"], shape["shared_ffn_hidden"]
    by = {row.name: row for row in obs.rows}
    assert by["layers.0.moe.routed_experts.inner_experts.w1_EFD"].shape == (e, fe, d)
    assert by["layers.0.moe.routed_experts.inner_experts.w2_EDF"].shape == (e, d, fe)
    assert by["layers.0.moe.router.gate.weight"].shape == (e, d)
    assert by["layers.0.moe.shared_experts.w1.weight"].shape == (fs, d)
    if not shrink:
        assert (e, fe, fs, shape["top_k"]) == (r.shape.num_experts, r.shape.expert_ffn_hidden,
                                              r.shape.shared_experts * r.shape.expert_ffn_hidden, r.shape.top_k)
    else:
        assert d < r.shape.width and fs == 2 * fe  # two shared experts of the expert width, shrunk together
        experts = [row for row in obs.rows if "inner_experts" in row.name or "router" in row.name]
        assert experts and all(row.init_truncation == pytest.approx(3.0) for row in experts)
    assert compare(r, obs).ok


@pytest.mark.frameworks
@needs_torchtitan
@pytest.mark.parametrize("size", [None, "xl"], ids=["proxy-1-node", "xl-2-nodes"])
def test_moe_example_agrees_and_states_its_gap(tmp_path, size):
    """The example as the trainer parses it (Trainer.Config's own checks run on one node and on two), then built."""
    from recipec.inspect.compare import compare
    from recipec.inspect.torchtitan import observe

    r, raw, rendered = compile_to(tmp_path, MOE_EXAMPLE, size)
    assert r.cluster.nodes == (1 if size is None else 2)
    text = (tmp_path / "recipec_torchtitan.py").read_text(encoding="utf-8")
    assert "expert_parallel_degree=8," in text and "disable_cuda_graphs=True," in text
    assert "load_balance_coeff=None," in text and "route_norm=True," in text and "score_func='softmax'," in text
    notes = [n for _, n in rendered.notes]
    assert any(n.startswith("aux_loss_coeff=0.01 is NOT applied") for n in notes)
    obs = observe(tmp_path, raw, shrink=False)
    kinds, problems = problems_of(r, obs, False)
    assert not problems and {"expert_in", "expert_out", "shared_in", "shared_out", "router", "output"} <= kinds
    by = {name_kind(row.name): row for row in obs.rows}
    if size == "xl":  # xl makes the down projections' fan-in ratio differ from the width ratio: their own group
        assert not math.isclose(by["expert_out"].lr, by["expert_in"].lr, rel_tol=1e-6)
    assert not math.isclose(by["router"].lr, by["output"].lr, rel_tol=1e-6)  # per_kind router lr, own group
    assert by["router"].lr == pytest.approx(r.kind_coupled("router").lr, rel=REL)
    report = compare(r, obs)
    assert report.ok and any("aux_loss_coeff" in g for g in report.gaps)


@pytest.mark.frameworks
@needs_torchtitan
@pytest.mark.parametrize("what", ["router_lr", "expert_out_init"])
def test_a_hand_edit_of_an_moe_group_fails_inspect(tmp_path, what):
    from recipec.cli import main

    out = tmp_path / "out"
    r, _, _ = compile_to(out, MOE, None)
    path = out / "recipec_torchtitan.py"
    text = path.read_text(encoding="utf-8")
    if what == "router_lr":
        m = re.search(r"pattern='[^']*router[^']*',.*?\"lr\": ([0-9.e+-]+),", text, re.S)
        target, args, names = m.span(1), ["inspect", str(out)], {"layers.0.moe.router.gate.weight",
                                                                  "layers.1.moe.router.gate.weight"}
    else:
        m = re.search(r"_experts_init\([0-9.e+-]+, ([0-9.e+-]+)\)", text)
        target, args, names = m.span(1), ["inspect", str(out), "--shrink"], {
            f"layers.{i}.moe.routed_experts.inner_experts.w2_EDF" for i in (0, 1)}
    old = text[target[0]:target[1]]
    path.write_text(text[:target[0]] + repr(float(old) * 3) + text[target[1]:], encoding="utf-8")
    result = CliRunner().invoke(main, [*args, "--format", "json"])
    assert result.exit_code == 1, result.output
    import json

    (report,) = json.loads(result.output)
    bad = {row["name"] for row in report["rows"] if not row["ok"]}
    assert bad == names
    key = "lr" if what == "router_lr" else "init_std"
    assert all(not row["checks"][key]["ok"] for row in report["rows"] if row["name"] in names)


def test_muon_recipe_is_refused_for_torchtitan_with_a_located_error(tmp_path):
    from recipec.cli import main

    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["compile", str(MUON_EXAMPLE), "--size", "wide", "--target", "torchtitan",
                                       "--out", str(out)])
    assert result.exit_code == 2
    line = next(i for i, t in enumerate(MUON_EXAMPLE.read_text(encoding="utf-8").splitlines(), 1)
                if t.strip().startswith("muon:"))
    located = re.search(r"muon-proxy\.yaml:(\d+):\d+: optimizer\.muon: ", result.output)
    assert located and int(located.group(1)) in (line, line + 1)  # the muon block (its key or its first value)
    assert "DistMuon" in result.output and "AdamW" in result.output
    assert not out.exists() or not any(out.iterdir())
    lint = CliRunner().invoke(main, ["lint", str(MUON_EXAMPLE), "--target", "torchtitan"])
    assert lint.exit_code == 1 and "RC603" in lint.output and "Muon (q, k, v, o, mlp_in, mlp_out)" in lint.output


def test_moe_gaps_follow_the_recipe():
    from recipec.frameworks.gaps import gaps
    from recipec.load import load_recipe
    from recipec.transfer import resolve_loaded

    example = resolve_loaded(load_recipe(MOE_EXAMPLE), "wide")
    assert example.moe.aux_loss_coeff == 0.01
    assert [g.key for g in gaps("torchtitan", example)] == ["aux_loss"]
    distinct = resolve_loaded(load_recipe(MOE), None)
    assert distinct.moe.aux_loss_coeff == 0 and distinct.moe.router_score == "sigmoid"
    assert "aux_loss" not in {g.key for g in gaps("torchtitan", distinct)}
    fp32 = distinct.model_copy(update={"precision": "fp32"})
    assert "moe_dtype" in {g.key for g in gaps("torchtitan", fp32)}
    dense = resolve_loaded(load_recipe(ROOT / "examples" / "llama-proxy.yaml"), "8b")
    assert dense.moe is None and not {"aux_loss", "moe_dtype", "muon"} & {g.key for g in gaps("torchtitan", dense)}


def test_moe_names_and_patterns():
    """recipec.frameworks.torchtitan (standard library only) against the names torchtitan 0.3's Qwen3 MoE gives."""
    from recipec.frameworks.torchtitan import kind_of, module_kinds, pattern

    names = ["layers.3.moe.routed_experts.inner_experts.w1_EFD", "layers.3.moe.routed_experts.inner_experts.w2_EDF",
             "layers.3.moe.routed_experts.inner_experts.w3_EFD", "layers.3.moe.router.gate.weight",
             "layers.3.moe.shared_experts.w1.weight", "layers.3.moe.shared_experts.w2.weight",
             "layers.3.moe.shared_experts.w3.weight", "layers.3.attention.wo.weight", "norm.weight",
             "layers.3.ffn_norm.weight"]
    for name in names:
        assert kind_of(name) == name_kind(name), name
        wrapped = name.replace("layers.3.", "layers.3._checkpoint_wrapped_module.")
        assert kind_of(wrapped) == name_kind(name), wrapped
    assert kind_of("layers.3.moe.expert_bias_E") is None  # a buffer, never a parameter row
    assert module_kinds(fused_qkv=True, tied=True, qk_norm=True, moe=True) == (
        "q", "o", "expert_in", "expert_out", "embedding", "router", "norm", "qk_norm", "final_norm")
    assert module_kinds(fused_qkv=True, tied=False, qk_norm=False, moe=True, shared_experts=True) == (
        "q", "o", "expert_in", "expert_out", "shared_in", "shared_out", "embedding", "output", "router", "norm",
        "final_norm")
    for kinds in (["expert_in"], ["expert_out", "shared_out", "o"], ["router"], ["shared_in", "q"]):
        pat = re.compile(pattern(kinds, fused_qkv=True))
        assert {n for n in names if pat.search(n)} == {n for n in names if name_kind(n) in kinds}, kinds
