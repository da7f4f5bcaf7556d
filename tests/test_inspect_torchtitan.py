"""recipec.inspect.torchtitan.observe: every parameter of the model torchtitan builds from recipec_torchtitan.py
carries its own kind's numbers (``Resolved.kind_coupled`` with the multipliers lowered where torchtitan lowers
them), and a hand edit of the launched file shows up in the row it touches.

Needs torchtitan 0.3 (the ``frameworks`` extra).
"""

from __future__ import annotations

import importlib.util
import json
import math
import re

import pytest
from golden_cases import ROOT

needs_torchtitan = pytest.mark.skipif(importlib.util.find_spec("torchtitan") is None, reason="torchtitan not installed")

DISTINCT = ROOT / "tests" / "data" / "distinct.yaml"
REL = 1e-9
# torchtitan 0.3 Llama3 names -> kinds, written out independently of recipec.frameworks.torchtitan
NAME_KINDS = (
    (r"\.attention\.qkv_linear\.wqkv\.weight$", "q"), (r"\.attention\.qkv_linear\.wq\.weight$", "q"),
    (r"\.attention\.qkv_linear\.wk\.weight$", "k"), (r"\.attention\.qkv_linear\.wv\.weight$", "v"),
    (r"\.attention\.wo\.weight$", "o"), (r"\.feed_forward\.w[13]\.weight$", "mlp_in"),
    (r"\.feed_forward\.w2\.weight$", "mlp_out"), (r"\.(attention|ffn)_norm\.weight$", "norm"),
    (r"\.attention\.[qk]_norm\.weight$", "qk_norm"), (r"^norm\.weight$", "final_norm"),
    (r"^tok_embeddings\.weight$", "embedding"), (r"^lm_head\.weight$", "output"),
)


def name_kind(name):
    return next(kind for pat, kind in NAME_KINDS if re.search(pat, name))


def truncated_std(a):
    phi = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    return math.sqrt(1 - 2 * a * phi / math.erf(a / math.sqrt(2)))


def want(r, kind):
    """kind_coupled with the multiplier torchtitan cannot apply folded into the weight (muP form A)."""
    from recipec.kinds import MULTIPLIER_OF

    c = r.kind_coupled(kind)
    mult = MULTIPLIER_OF.get(kind)
    s = 1.0 if mult is None or (kind == "embedding" and r.shape.tied_embeddings) else getattr(r.multipliers, mult).value
    return {"lr": c.lr * s, "weight_decay": c.weight_decay / s, "eps": c.eps / s,
            "init_std": None if c.init_std is None else c.init_std * s}


def write(out, loaded, resolved):
    from recipec.cli import resolved_json
    from recipec.render import RenderedFile, render

    out.mkdir(parents=True, exist_ok=True)
    rendered = render(loaded, resolved, ["torchtitan"], extra=(RenderedFile("resolved.json", resolved_json(resolved)),))
    for f in rendered.files:
        (out / f.path).write_text(f.text, encoding="utf-8")
    return json.loads((out / "resolved.json").read_text(encoding="utf-8")), rendered


def compile_to(out, path, size, update=None):
    from recipec.load import load_recipe
    from recipec.transfer import resolve_loaded

    loaded = load_recipe(path)
    resolved = resolve_loaded(loaded, size)
    if update is not None:
        resolved = update(resolved)
    raw, rendered = write(out, loaded, resolved)
    return resolved, raw, rendered


def check_rows(r, obs, shrink):
    """Every row against its kind; returns the kinds seen and the per-name problems."""
    problems, kinds = [], set()
    for row in obs.rows:
        kind = name_kind(row.name)
        assert row.kind == kind, (row.name, row.kind)
        kinds.add(kind)
        w = want(r, kind)
        for key in ("lr", "weight_decay", "eps"):
            if not math.isclose(getattr(row, key), w[key], rel_tol=REL):
                problems.append((row.name, key, getattr(row, key), w[key]))
        assert tuple(row.betas) == tuple(r.optimizer.betas)
        assert row.multiplier == 1.0
        if not shrink:
            assert row.init_std is None
        elif w["init_std"] is not None:
            expected = w["init_std"] * (truncated_std(row.init_truncation) if row.init_truncation else 1.0)
            se = expected / math.sqrt(2 * row.init_numel)
            if abs(row.init_std - expected) > 5 * se:
                problems.append((row.name, "init_std", row.init_std, expected))
    return kinds, problems


@pytest.fixture(scope="module", params=["wide", "vocab-width"])
def distinct(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"distinct-{request.param}")
    r, raw, _ = compile_to(out, DISTINCT, request.param)
    return out, r, raw


@pytest.mark.frameworks
@needs_torchtitan
@pytest.mark.parametrize("shrink", [False, True], ids=["meta", "shrink"])
@pytest.mark.slow
def test_every_row_has_its_kinds_numbers(distinct, shrink):
    from recipec.inspect.torchtitan import observe

    out, r, raw = distinct
    obs = observe(out, raw, shrink=shrink)
    kinds, problems = check_rows(r, obs, shrink)
    assert not problems
    assert kinds == {"q", "o", "mlp_in", "mlp_out", "embedding", "output", "norm", "final_norm"}
    assert len(obs.rows) == len({row.name for row in obs.rows})
    wqkv = [row for row in obs.rows if row.name.endswith("wqkv.weight")]
    assert wqkv and all(row.fused == ("k", "v") for row in wqkv)
    assert obs.native == {"output_multiplier": 1.0, "embedding_multiplier": 1.0, "residual_multiplier": 1.0,
                          "attn_logit_scale": pytest.approx(r.shape.head_dim ** -0.5, rel=1e-12)}
    assert obs.shrunk is shrink
    if shrink:
        assert obs.shape["width"] < r.shape.width
        matrices = [row for row in obs.rows if row.name.endswith(("wqkv.weight", "wo.weight", "w1.weight",
                                                                  "w2.weight", "w3.weight", "lm_head.weight"))]
        assert all(row.init_truncation == pytest.approx(3.0) for row in matrices)
        emb = next(row for row in obs.rows if row.name == "tok_embeddings.weight")
        assert emb.init_truncation is None  # nn.init.normal_
    else:
        assert obs.shape["width"] == r.shape.width and obs.shape["depth"] == r.shape.depth


@pytest.mark.frameworks
@needs_torchtitan
@pytest.mark.slow
def test_w2_and_wo_get_their_own_numbers(distinct):
    """distinct.yaml's MLP down-projection fan-in ratio is not the width ratio: w2 is not wo."""
    from recipec.inspect.torchtitan import observe

    out, r, raw = distinct
    if math.isclose(want(r, "mlp_out")["lr"], want(r, "o")["lr"], rel_tol=1e-12):
        pytest.skip("mlp_out resolves like o in this recipec (kinds not resolved per fan ratio yet)")
    obs = observe(out, raw, shrink=True)
    by = {name_kind(row.name): row for row in obs.rows}
    assert not math.isclose(by["mlp_out"].lr, by["o"].lr, rel_tol=1e-6)
    assert check_rows(r, obs, True)[1] == []


@pytest.mark.frameworks
@needs_torchtitan
def test_a_hand_edit_of_the_launched_file_is_seen(tmp_path):
    from recipec.inspect.torchtitan import observe

    r, raw, _ = compile_to(tmp_path, DISTINCT, "wide")
    before = observe(tmp_path, raw, shrink=False)  # imports the file once; the edit below follows at once
    path = tmp_path / "recipec_torchtitan.py"
    text = path.read_text(encoding="utf-8")
    block = re.search(r"ParamGroupConfig\(\n\s+pattern='[^']*lm_head[^']*',.*?\"lr\": ([0-9.e+-]+),", text, re.S)
    old = block.group(1)
    i = max(j for j, ch in enumerate(old) if ch in "123456789")  # same length: a stale bytecode cache would hide it
    new = old[:i] + str(int(old[i]) % 9 + 1) + old[i + 1:]
    path.write_text(text[: block.start(1)] + new + text[block.end(1):], encoding="utf-8")
    after = observe(tmp_path, raw, shrink=False)
    kinds, problems = check_rows(r, after, False)
    assert {p[0] for p in problems} == {"lm_head.weight"}
    assert [p[1] for p in problems] == ["lr"]
    lm = next(row for row in after.rows if row.name == "lm_head.weight")
    assert lm.lr == float(new) != next(row.lr for row in before.rows if row.name == "lm_head.weight")
    unchanged = {row.name: row for row in before.rows if row.name != "lm_head.weight"}
    assert all(unchanged[row.name] == row for row in after.rows if row.name in unchanged)


def _distinct_qkv(r):
    """distinct.yaml with q, k and v resolved apart (k and v: own LR and eps; v: own init std too) and the final
    norm apart from the block norms — what per-fan-ratio resolution can produce."""
    from recipec.resolved import KindHParams, Value

    def v(x):
        return Value(value=x, proxy=x, chain=())

    kinds = dict(r.kinds)
    base = r.classes["hidden"]
    kinds["k"] = KindHParams(cls="hidden", fan_in_ratio=1.0, fan_out_ratio=1.0, lr=v(base.lr.value * 0.5),
                             eps=v(base.eps.value * 3))
    kinds["v"] = KindHParams(cls="hidden", fan_in_ratio=1.0, fan_out_ratio=1.0, lr=v(base.lr.value * 0.25),
                             init_std=v(base.init_std.value * 2))
    kinds["final_norm"] = KindHParams(cls="vector", fan_in_ratio=1.0, fan_out_ratio=1.0,
                                      lr=v(r.classes["vector"].lr.value * 0.1))
    return r.model_copy(update={"kinds": kinds})


@pytest.mark.frameworks
@needs_torchtitan
def test_q_k_v_apart_render_unfused_projections(tmp_path):
    from recipec.inspect.torchtitan import observe

    r, raw, rendered = compile_to(tmp_path, DISTINCT, "wide", update=_distinct_qkv)
    text = (tmp_path / "recipec_torchtitan.py").read_text(encoding="utf-8")
    assert "fuse_qkv=False" in text and "qkv_linear.wkv.param_init" in text
    notes = [n for _, n in rendered.notes]
    assert any(n.startswith("v init std") and "NOT applied" in n for n in notes)
    obs = observe(tmp_path, raw, shrink=True)
    kinds, problems = check_rows(r, obs, True)
    # wv starts with k's std (torchtitan builds wk and wv from one config): that is the reported gap
    assert {(p[0].rsplit(".", 2)[-2], p[1]) for p in problems} == {("wv", "init_std")}
    assert kinds == {"q", "k", "v", "o", "mlp_in", "mlp_out", "embedding", "output", "norm", "final_norm"}
    wv = [row for row in obs.rows if row.name.endswith("wv.weight")]
    k_std = want(r, "k")["init_std"] * truncated_std(3.0)
    assert all(abs(row.init_std - k_std) < 5 * k_std / math.sqrt(2 * row.init_numel) for row in wv)
    assert not any(row.fused for row in obs.rows)
    by = {name_kind(row.name): row for row in obs.rows}
    assert len({by[k].lr for k in ("q", "k", "v")}) == 3
    assert not math.isclose(by["final_norm"].lr, by["norm"].lr, rel_tol=1e-6)


@pytest.mark.frameworks
@needs_torchtitan
def test_tied_weight_starts_with_the_embedding_std(tmp_path):
    from recipec.inspect.torchtitan import observe

    r, raw, _ = compile_to(tmp_path, ROOT / "examples" / "completep-depth.yaml", "wide-deep")
    assert r.shape.tied_embeddings
    obs = observe(tmp_path, raw, shrink=True)
    kinds, problems = check_rows(r, obs, True)
    assert not problems and "output" not in kinds
    emb = next(row for row in obs.rows if row.name == "tok_embeddings.weight")
    assert emb.init_truncation is None and emb.init_std is not None


def test_missing_torchtitan_says_how_to_install(tmp_path, monkeypatch):
    import sys

    from recipec.inspect.observed import FrameworkMissing
    from recipec.inspect.torchtitan import observe

    monkeypatch.setitem(sys.modules, "torchtitan", None)
    with pytest.raises(FrameworkMissing, match="pip install .*torchtitan==0.3.0"):
        observe(tmp_path, {}, shrink=False)


def test_kind_of_names_every_llama3_parameter():
    """recipec.frameworks.torchtitan (standard library only) against the names torchtitan 0.3 gives."""
    from recipec.frameworks.torchtitan import fused_with, kind_of, module_kinds, pattern

    for name in ("tok_embeddings.weight", "layers.0.attention.qkv_linear.wqkv.weight",
                 "layers.0.attention.qkv_linear.wq.weight", "layers.0.attention.qkv_linear.wk.weight",
                 "layers.0.attention.qkv_linear.wv.weight", "layers.0.attention.wo.weight",
                 "layers.0.feed_forward.w1.weight", "layers.0.feed_forward.w2.weight",
                 "layers.0.feed_forward.w3.weight",
                 "layers.0.attention_norm.weight", "layers.0.ffn_norm.weight", "layers.0.attention.q_norm.weight",
                 "layers.0.attention.k_norm.weight", "norm.weight", "lm_head.weight"):
        assert kind_of(name) == name_kind(name), name
        wrapped = name.replace("layers.0.", "layers.0._checkpoint_wrapped_module.")
        assert kind_of(wrapped) == name_kind(name), wrapped
    assert fused_with("layers.7.attention.qkv_linear.wqkv.weight") == ("k", "v")
    assert fused_with("layers.7.attention.qkv_linear.wq.weight") == ()
    assert kind_of("layers.0.feed_forward.w1.bias") == "bias" and kind_of("layers.0.router.gate.weight") is None
    assert module_kinds(fused_qkv=True, tied=True, qk_norm=False) == (
        "q", "o", "mlp_in", "mlp_out", "embedding", "norm", "final_norm")
    final = re.compile(pattern(["final_norm"], fused_qkv=True))
    assert final.search("norm.weight") and not any(final.search(f"layers.0.{n}.weight") for n in (
        "attention_norm", "ffn_norm", "attention.q_norm", "attention.k_norm"))
