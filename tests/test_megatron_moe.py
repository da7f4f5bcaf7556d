"""The megatron target for mixture-of-experts recipes, and its refusal of Muon recipes.

``tests/data/distinct-moe.yaml`` gives the router, the routed experts' gate/up and down, and the shared experts'
gate/up and down each their own LR, weight decay, eps and init std, and sets a residual multiplier (lowered into
every branch output: linear_proj, each expert's linear_fc2, the shared experts' linear_fc2). megatron-core builds
its GPTModel with MoE layers from the compiled ``megatron_pretrain.py`` (``recipec.inspect.megatron``), and every
row is checked against ``kind_coupled`` here and through ``recipec.inspect.compare``. The argument values for
``examples/moe-proxy.yaml`` are computed by hand below.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys

import pytest
from golden_cases import ROOT, render_case

DISTINCT_MOE = ROOT / "tests" / "data" / "distinct-moe.yaml"
MOE_PROXY = ROOT / "examples" / "moe-proxy.yaml"
MUON_PROXY = ROOT / "examples" / "muon-proxy.yaml"
REL = 1e-9


def close(a, b):
    return math.isclose(a, b, rel_tol=REL, abs_tol=0.0)


def _files(path, size, display):
    return {f.path: f.text for f in render_case(path.stem, size, None, targets=("megatron",), path=path,
                                                display=display).files}


def _wrapper_args(text: str) -> list[str]:
    """RECIPEC_ARGS of a compiled megatron_pretrain.py, by executing only that assignment."""
    block = re.search(r"^RECIPEC_ARGS = \[.*?^\]", text, flags=re.M | re.S).group(0)
    scope: dict = {}
    exec(block, scope)  # noqa: S102 - our own generated literal
    return scope["RECIPEC_ARGS"]


def _value(args: list[str], flag: str) -> str | None:
    idx = [i for i, a in enumerate(args) if a == flag]
    return args[idx[-1] + 1] if idx else None


# --------------------------------------------------------------------------- arguments (no megatron-core needed)


@pytest.mark.parametrize("size, fe, ep", [("wide", 1536, 8), ("xl", 2048, 8), (None, 384, 8)])
def test_moe_proxy_arguments_by_hand(size, fe, ep):
    """moe-proxy: 8 experts, top-2, one shared expert, softmax router, aux loss 0.01, expert parallel 8. The expert
    width keeps its ratio to width: 384 at width 256, 384·1024/256 = 1536 at wide; xl sets 2048 itself."""
    files = _files(MOE_PROXY, size, "examples/moe-proxy.yaml")
    args = _wrapper_args(files["megatron_pretrain.py"])
    want = {"--num-experts": "8", "--moe-router-topk": "2", "--moe-ffn-hidden-size": str(fe),
            "--moe-shared-expert-intermediate-size": str(fe), "--moe-router-score-function": "softmax",
            "--moe-router-load-balancing-type": "aux_loss", "--moe-aux-loss-coeff": "0.01",
            "--expert-model-parallel-size": str(ep), "--moe-token-dispatcher-type": "alltoall"}
    assert {f: _value(args, f) for f in want} == want
    assert "--moe-router-pre-softmax" not in args and "--moe-grouped-gemm" not in args
    text = files["megatron_pretrain.py"]
    # the wrapper names the MoE kinds (and no dense MLP kinds: the model has none)
    for kind in ("router", "expert_in", "expert_out", "shared_in", "shared_out"):
        assert f"    '{kind}': {{\"max_lr\": " in text and f"    '{kind}': " in text.split("INIT_STD = {")[1]
    assert "'mlp_in'" not in text and "'mlp_out'" not in text
    # the router's own LR (optimizer.per_kind.router.lr 1e-3 at the proxy; mup-moe: ∝ 1/fan_in = 1/m)
    m = {"wide": 4, "xl": 8, None: 1}[size]
    router_lr = float(re.search(r"^    'router': \{\"max_lr\": ([0-9.e+-]+)", text, flags=re.M).group(1))
    assert close(router_lr, 1.0e-3 / m)


def test_moe_argument_variants():
    """top-1 softmax needs --moe-router-pre-softmax; no aux loss writes load balancing none; expert parallel 1
    keeps the default dispatcher; sigmoid is passed through."""
    from recipec.load import load_recipe
    from recipec.render import render
    from recipec.transfer import resolve_loaded

    def args_for(*sets):
        loaded = load_recipe(MOE_PROXY, display="examples/moe-proxy.yaml", sets=list(sets))
        resolved = resolve_loaded(loaded, None)
        text = {f.path: f.text for f in render(loaded, resolved, ("megatron",)).files}["megatron_pretrain.py"]
        return _wrapper_args(text)

    a = args_for("model.moe.top_k=1", "model.moe.aux_loss_coeff=0", "cluster.expert_parallel=1")
    assert "--moe-router-pre-softmax" in a and _value(a, "--moe-router-topk") == "1"
    assert _value(a, "--moe-router-load-balancing-type") == "none" and "--moe-aux-loss-coeff" not in a
    assert _value(a, "--expert-model-parallel-size") == "1" and "--moe-token-dispatcher-type" not in a
    b = args_for("model.moe.router_score=sigmoid", "model.moe.shared_experts=0")
    assert _value(b, "--moe-router-score-function") == "sigmoid" and "--moe-router-pre-softmax" not in b
    assert "--moe-shared-expert-intermediate-size" not in b


def test_router_multiplier_is_lowered_into_the_router():
    """No built-in rule sets a router multiplier yet; one other than 1 is lowered like the residual multiplier
    (init std and LR × c, eps and coupled WD ÷ c), which is what recipec.inspect.compare expects of a router row
    whose framework applies no multiplier."""
    from recipec.load import load_recipe
    from recipec.render import RenderContext
    from recipec.render.megatron import plan
    from recipec.resolved import Value
    from recipec.transfer import resolve_loaded

    r = resolve_loaded(load_recipe(DISTINCT_MOE), "wide")
    c = 0.5
    lowered = r.model_copy(update={"multipliers": r.multipliers.model_copy(
        update={"router_multiplier": Value(value=c, proxy=1.0, chain=())})})
    base, low = (plan(RenderContext(resolved=x, recipe_path="t.yaml", recipe_sha256="0")) for x in (r, lowered))
    router = {p: next(o for o in x.overrides if o.kind == "router") for p, x in (("base", base), ("low", low))}
    want = r.kind_coupled("router")
    assert close(router["base"].max_lr, want.lr) and close(router["low"].max_lr, want.lr * c)
    assert close(router["low"].eps, want.eps / c)
    assert close(router["low"].wd_mult * low.base_weight_decay, want.weight_decay / c)
    assert close(dict((k, s) for k, s, _ in low.init_std)["router"], want.init_std * c)
    assert any(n.startswith("router_multiplier=0.5 lowered into mlp.router") for n in low.notes)
    assert [o for o in base.overrides if o.kind != "router"] == [o for o in low.overrides if o.kind != "router"]


def test_wrapper_seeds_replicated_and_expert_parallel_tensors_apart(tmp_path):
    """The router is one tensor on every tensor-parallel rank: its seed must not change with the TP rank. The routed
    experts have the same local names on every expert-parallel rank but are other experts: their seed must change
    with the EP rank (and the expert-TP rank, which shards them), not with the dense TP rank."""
    from recipec.inspect.observed import import_file

    path = tmp_path / "megatron_pretrain.py"
    path.write_text(_files(DISTINCT_MOE, "wide", "tests/data/distinct-moe.yaml")["megatron_pretrain.py"],
                    encoding="utf-8")
    wrapper = import_file(path, "recipec_test_megatron_moe_wrapper")
    try:
        key = wrapper.shard_key
        assert key("router", 0, 0, 0) == key("router", 3, 1, 2)
        assert len({key("expert_in", 0, ep, 0) for ep in range(4)}) == 4
        assert len({key("expert_out", 0, 0, etp) for etp in range(2)}) == 2
        assert key("expert_in", 0, 1, 0) == key("expert_in", 5, 1, 0)
        for kind in ("q", "o", "shared_in", "shared_out", "output"):
            assert key(kind, 0, 0, 0) != key(kind, 1, 0, 0) and key(kind, 1, 0, 0) == key(kind, 1, 3, 1)
    finally:
        sys.modules.pop("recipec_test_megatron_moe_wrapper", None)


def test_dense_wrapper_has_no_moe_kinds():
    text = _files(ROOT / "tests" / "data" / "distinct.yaml", "wide", "tests/data/distinct.yaml")["megatron_pretrain.py"]
    assert "--num-experts" not in text and "router" not in text and "expert" not in text
    assert "shard_key" not in text


def test_moe_kinds_from_module_names():
    from recipec.frameworks import megatron as mf

    assert mf.kind_of("decoder.layers.1.mlp.router.weight") == "router"
    assert mf.kind_of("decoder.layers.1.mlp.experts.local_experts.7.linear_fc1.weight") == "expert_in"
    assert mf.kind_of("decoder.layers.1.mlp.experts.local_experts.7.linear_fc2.weight") == "expert_out"
    assert mf.kind_of("decoder.layers.1.mlp.experts.linear_fc1.weight3") == "expert_in"  # TE grouped gemm
    assert mf.kind_of("decoder.layers.1.mlp.experts.linear_fc2.weight0") == "expert_out"
    assert mf.kind_of("decoder.layers.1.mlp.shared_experts.linear_fc1.weight") == "shared_in"
    assert mf.kind_of("decoder.layers.1.mlp.shared_experts.linear_fc2.weight") == "shared_out"
    assert mf.kind_of("decoder.layers.1.mlp.linear_fc1.weight") == "mlp_in"
    with pytest.raises(ValueError):
        mf.kind_of("decoder.layers.1.mlp.experts.linear_fc1.weight")  # one 3-D grouped weight: not a kind


# --------------------------------------------------------------------------- Muon: refused, a listed gap


def test_muon_recipe_is_refused_with_a_located_error(tmp_path):
    done = subprocess.run([sys.executable, "-m", "recipec", "compile", str(MUON_PROXY), "--size", "wide",
                           "-t", "megatron", "-o", str(tmp_path / "out")], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 2, done.stderr
    from recipec.load import load_recipe

    at = load_recipe(MUON_PROXY).source_map.locate(("optimizer", "muon"))
    assert f"muon-proxy.yaml:{at.line}:{at.column}: optimizer.muon: megatron target" in done.stderr
    assert "emerging_optimizers" in done.stderr and "linear_fc1" in done.stderr and "-t neutral" in done.stderr
    assert not (tmp_path / "out" / "megatron_pretrain.py").exists()


def test_muon_is_a_megatron_gap():
    from recipec.frameworks.gaps import gaps
    from recipec.load import load_recipe
    from recipec.transfer import resolve_loaded

    r = resolve_loaded(load_recipe(MUON_PROXY), "wide")
    notes = [g.note for g in gaps("megatron", r) if g.key == "muon"]
    assert len(notes) == 1 and "NOT applied" in notes[0] and "mlp_in" in notes[0]
    dense = resolve_loaded(load_recipe(MOE_PROXY), "wide")
    assert not [g for g in gaps("megatron", dense) if g.key == "muon"]


# --------------------------------------------------------------------------- megatron-core builds it


@pytest.fixture(scope="module")
def observer():
    from recipec.inspect import megatron
    from recipec.inspect.observed import FrameworkMissing

    try:
        megatron._import_framework()
    except FrameworkMissing as e:
        pytest.skip(str(e))
    return megatron


@pytest.mark.parametrize("size, world", [("wide", 8), ("xl", 16)])
def test_megatron_validates_the_recipe_parallelism(observer, size, world):
    """The compiled arguments as they are (expert parallel 8, alltoall), through Megatron's parse_args and
    validate_args at the recipe's world size (inspect itself runs them at 1 process)."""
    import contextlib
    import io
    import warnings

    from megatron.training import arguments as margs

    args = _wrapper_args(_files(MOE_PROXY, size, "examples/moe-proxy.yaml")["megatron_pretrain.py"])
    # only what lets validate_args run without Transformer Engine and Apex (observer.CPU_ARGS less the sizes)
    cpu = ["--transformer-impl", "local", "--no-rope-fusion", "--no-persist-layer-norm",
           "--no-gradient-accumulation-fusion"]
    with observer._process_state(["pretrain_gpt.py", *args, *cpu], {**observer.ENV, "WORLD_SIZE": str(world)}), \
            warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        parsed = margs.parse_args()
        margs.validate_args(parsed)
    assert (parsed.num_experts, parsed.moe_router_topk, parsed.expert_model_parallel_size) == (8, 2, 8)
    assert parsed.moe_token_dispatcher_type == "alltoall" and parsed.moe_router_score_function == "softmax"
    assert parsed.moe_router_load_balancing_type == "aux_loss" and parsed.moe_aux_loss_coeff == 0.01
    fe = {"wide": 1536, "xl": 2048}[size]
    assert parsed.moe_ffn_hidden_size == fe and parsed.moe_shared_expert_intermediate_size == fe
    assert parsed.data_parallel_size == world


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    from recipec.resolved import Resolved

    out = tmp_path_factory.mktemp("megatron-moe")
    for f in render_case("distinct-moe", "wide", None, targets=("megatron",), path=DISTINCT_MOE,
                         display="tests/data/distinct-moe.yaml").files:
        (out / f.path).write_text(f.text, encoding="utf-8")
    raw = json.loads((out / "resolved.json").read_text(encoding="utf-8"))
    return out, raw, Resolved.model_validate(raw)


def _want(r, kind):
    """(lr, coupled wd, eps, init std) of a kind as megatron_pretrain.py must give it (residual multiplier lowered
    into the branch outputs: init std and LR × c, eps and coupled WD ÷ c)."""
    from recipec.kinds import BRANCH_OUT

    c = r.kind_coupled(kind)
    s = r.multipliers.residual_multiplier.value if kind in BRANCH_OUT else 1.0
    return c.lr * s, c.weight_decay / s, c.eps / s, None if c.init_std is None else c.init_std * s


def _wrong(r, obs) -> list[str]:
    bad = []
    min_ratio = r.schedule.min_lr_ratio
    for row in obs.rows:
        lr, wd, eps, init = _want(r, row.kind)
        for what, got, want in (("lr", row.lr, lr), ("weight_decay", row.weight_decay, wd), ("eps", row.eps, eps),
                                ("min_lr", row.min_lr, lr * min_ratio)):
            if not (close(got, want) or got == want == 0):
                bad.append(f"{row.name}: {what} {got!r} != {want!r}")
        if row.init_std is not None and init is not None:
            tol = 5.0 / math.sqrt(2.0 * row.init_numel) + 1e-3
            if abs(row.init_std - init) > tol * init:
                bad.append(f"{row.name}: init std {row.init_std:.6g} != {init:.6g} (±{tol:.1%})")
    return bad


@pytest.mark.parametrize("shrink", [True, False], ids=["shrink", "full"])
def test_every_moe_row_is_the_resolved_kind(observer, compiled, shrink):
    from recipec.inspect.compare import compare
    from recipec.kinds import present

    out, raw, r = compiled
    obs = observer.observe(out, raw, shrink=shrink)
    assert not _wrong(r, obs)
    report = compare(r, obs)
    assert report.ok, report.differences
    assert {row.kind for row in obs.rows} == set(present(r.shape))
    sh = r.shape
    depth = 2 if shrink else sh.depth
    by_kind = {k: [row for row in obs.rows if row.kind == k] for k in ("router", "expert_in", "expert_out",
                                                                        "shared_in", "shared_out")}
    assert len(by_kind["router"]) == depth and all(row.shape[0] == sh.num_experts for row in by_kind["router"])
    assert len(by_kind["expert_in"]) == len(by_kind["expert_out"]) == depth * sh.num_experts
    assert len(by_kind["shared_in"]) == len(by_kind["shared_out"]) == depth
    assert obs.shape["num_experts"] == sh.num_experts and obs.shape["top_k"] == sh.top_k
    if not shrink:
        assert obs.shape["expert_ffn_hidden"] == sh.expert_ffn_hidden
        assert obs.shape["shared_ffn_hidden"] == sh.shared_experts * sh.expert_ffn_hidden
        fe, d = sh.expert_ffn_hidden, sh.width
        assert by_kind["expert_in"][0].shape == (2 * fe, d) and by_kind["expert_out"][0].shape == (d, fe)
    # the kinds' numbers are distinct, so a row in a neighbour's group would have failed above
    values = {k: _want(r, k)[:3] for k in by_kind}
    assert len(set(values.values())) == len(values)
    assert any("expert parallel 2 is inspected at 1" in n for n in obs.notes)


def test_hand_edited_router_and_expert_numbers_are_observed(observer, compiled, tmp_path):
    """A changed number in megatron_pretrain.py → exactly the rows it governs differ, and inspect exits 1."""
    from recipec.inspect.compare import compare

    out, raw, r = compiled

    def edit(dst, pattern, factor):
        shutil.copytree(out, dst)
        path = dst / "megatron_pretrain.py"
        text, n = re.subn(pattern, lambda m: f"{m.group(1)}{float(m.group(2)) * factor!r}",
                          path.read_text(encoding="utf-8"), count=1, flags=re.M)
        assert n == 1, pattern
        path.write_text(text, encoding="utf-8")
        return dst

    lr_dir = edit(tmp_path / "lr", r"""^(    'router': \{"max_lr": )([0-9.e+-]+)""", 2.0)
    obs = observer.observe(lr_dir, raw, shrink=False)
    wrong = _wrong(r, obs)
    assert len(wrong) == r.shape.depth and all(".mlp.router.weight: lr " in w for w in wrong), wrong
    assert not compare(r, obs).ok

    init_dir = edit(tmp_path / "init", r"^(    'expert_out': )([0-9.e+-]+)", 3.0)
    obs = observer.observe(init_dir, raw, shrink=True)
    wrong = _wrong(r, obs)
    assert len(wrong) == 2 * r.shape.num_experts, wrong  # 2 layers when shrunk
    assert all(re.search(r"\.mlp\.experts\.local_experts\.\d+\.linear_fc2\.weight: init std", w) for w in wrong)

    done = subprocess.run([sys.executable, "-m", "recipec", "inspect", str(lr_dir), "-t", "megatron"],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert "mlp.router.weight" in done.stdout
