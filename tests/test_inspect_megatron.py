"""recipec.inspect.megatron: megatron-core's own model and optimizer groups, built from megatron_pretrain.py.

The recipe ``tests/data/distinct.yaml`` gives every kind its own numbers (the MLP down-projection's LR differs
from the other hidden matrices', the final norm's from the block norms'), so a parameter that megatron-core
puts in the wrong group shows up as a wrong number. Each row is checked here against ``kind_coupled``
directly (the residual multiplier lowered into linear_proj / linear_fc2, the readout and embedding
multipliers applied by megatron-core itself) and through ``recipec.inspect.compare``.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import pytest
from golden_cases import ROOT, render_case

DISTINCT = ROOT / "tests" / "data" / "distinct.yaml"
REL = 1e-9


@pytest.fixture(scope="module")
def observer():
    from recipec.inspect import megatron
    from recipec.inspect.observed import FrameworkMissing

    try:
        megatron._import_framework()
    except FrameworkMissing as e:
        pytest.skip(str(e))
    return megatron


def _render(out, size):
    out.mkdir(parents=True, exist_ok=True)
    for f in render_case("distinct", size, None, targets=("megatron",), path=DISTINCT,
                         display="tests/data/distinct.yaml").files:
        (out / f.path).write_text(f.text, encoding="utf-8")
    return out


@pytest.fixture(scope="module", params=["wide", "vocab-width"])
def compiled(request, tmp_path_factory):
    from recipec.resolved import Resolved

    out = _render(tmp_path_factory.mktemp(f"megatron-{request.param}"), request.param)
    raw = json.loads((out / "resolved.json").read_text(encoding="utf-8"))
    return out, raw, Resolved.model_validate(raw)


def close(a, b):
    return math.isclose(a, b, rel_tol=REL, abs_tol=0.0)


def _want(r, kind):
    """(lr, coupled wd, eps, init std) of a kind as megatron_pretrain.py must give it."""
    c = r.kind_coupled(kind)
    s = r.multipliers.residual_multiplier.value if kind in ("o", "mlp_out") else 1.0
    return c.lr * s, c.weight_decay / s, c.eps / s, None if c.init_std is None else c.init_std * s


def _wrong(r, obs) -> list[str]:
    """Every row value that is not the resolved one (independently of recipec.inspect.compare)."""
    bad = []
    min_ratio = 1.0 if r.schedule.decay == "constant" else r.schedule.min_lr_ratio
    for row in obs.rows:
        lr, wd, eps, init = _want(r, row.kind)
        for what, got, want in (("lr", row.lr, lr), ("weight_decay", row.weight_decay, wd), ("eps", row.eps, eps),
                                ("min_lr", row.min_lr, lr * min_ratio)):
            if not (close(got, want) or got == want == 0):
                bad.append(f"{row.name}: {what} {got!r} != {want!r}")
        if tuple(row.betas) != tuple(r.optimizer.betas):
            bad.append(f"{row.name}: betas {row.betas} != {r.optimizer.betas}")
        mult = {"output": r.multipliers.output_multiplier.value,
                "embedding": r.multipliers.embedding_multiplier.value}.get(row.kind, 1.0)
        if not close(row.multiplier, mult):
            bad.append(f"{row.name}: multiplier {row.multiplier!r} != {mult!r}")
        if row.init_std is not None and init is not None:
            tol = 5.0 / math.sqrt(2.0 * row.init_numel) + 1e-3
            if abs(row.init_std - init) > tol * init:
                bad.append(f"{row.name}: init std {row.init_std:.6g} != {init:.6g} (±{tol:.1%})")
    return bad


@pytest.mark.parametrize("shrink", [True, False], ids=["shrink", "full"])
def test_every_row_is_the_resolved_kind(observer, compiled, shrink):
    from recipec.inspect.compare import compare
    from recipec.kinds import present

    out, raw, r = compiled
    obs = observer.observe(out, raw, shrink=shrink)
    assert obs.target == "megatron" and obs.shrunk == shrink
    assert not _wrong(r, obs)
    report = compare(r, obs)
    assert report.ok, report.differences
    assert {row.kind for row in obs.rows} == set(present(r.shape))
    # one readout, of kind output (megatron-core marks it is_embedding_parameter under --use-mup)
    assert [row.kind for row in obs.rows if row.name == "output_layer.weight"] == ["output"]
    assert all((row.init_std is not None) == shrink for row in obs.rows)
    assert obs.native["residual_multiplier"] == 1.0
    assert close(obs.native["output_multiplier"], r.multipliers.output_multiplier.value)
    assert close(obs.native["embedding_multiplier"], r.multipliers.embedding_multiplier.value)
    if shrink:
        sh = r.shape
        assert obs.shape["depth"] == 2 and obs.shape["width"] < sh.width
        assert obs.shape["width"] * r.proxy_shape.width % sh.width == 0  # an integer --mup-base-hidden-size
    else:
        assert obs.shape["width"] == r.shape.width and obs.shape["depth"] == r.shape.depth
        assert close(obs.native["attn_logit_scale"], r.multipliers.attn_logit_scale.value)
    # linear_qkv is one tensor: its q, k and v rows are reported apart, with one group's numbers
    parts = [row for row in obs.rows if ".linear_qkv.weight[" in row.name]
    assert [p.kind for p in parts] == ["q", "k", "v"] * (2 if shrink else r.shape.depth)


def _edit(src, dst, pattern, repl):
    import shutil

    shutil.copytree(src, dst)
    path = dst / "megatron_pretrain.py"
    text = path.read_text(encoding="utf-8")
    edited, n = re.subn(pattern, repl, text, count=1, flags=re.M)
    assert n == 1, pattern
    path.write_text(edited, encoding="utf-8")
    return dst


def _scaled(m, factor=2.0):
    return f"{m.group(1)}{float(m.group(2)) * factor!r}"


@pytest.mark.slow
def test_a_hand_edited_number_is_what_is_observed(observer, compiled, tmp_path):
    """One number changed in megatron_pretrain.py → exactly the rows it governs differ."""
    from recipec.inspect.compare import compare

    out, raw, r = compiled
    lr_edit = _edit(out, tmp_path / "lr", r"""^(    'mlp_out': \{"max_lr": )([0-9.e+-]+)""", _scaled)
    obs = observer.observe(lr_edit, raw, shrink=False)
    wrong = _wrong(r, obs)
    assert wrong and all(".mlp.linear_fc2.weight: lr " in w for w in wrong), wrong
    assert len(wrong) == r.shape.depth
    assert not compare(r, obs).ok

    init_edit = _edit(out, tmp_path / "init", r"^(    'output': )([0-9.e+-]+)", lambda m: _scaled(m, 3.0))
    obs = observer.observe(init_edit, raw, shrink=True)
    wrong = _wrong(r, obs)
    assert len(wrong) == 1 and wrong[0].startswith("output_layer.weight: init std"), wrong

    mult_edit = _edit(out, tmp_path / "mult", r"^(OUTPUT_MULTIPLIER = )([0-9.e+-]+)", _scaled)
    obs = observer.observe(mult_edit, raw, shrink=False)
    assert close(obs.native["output_multiplier"], 2 * r.multipliers.output_multiplier.value)
    assert [w for w in _wrong(r, obs)] == [
        f"output_layer.weight: multiplier {2 * r.multipliers.output_multiplier.value!r} != "
        f"{r.multipliers.output_multiplier.value!r}"]
    assert not compare(r, obs).ok


def test_kinds_come_from_module_names():
    from recipec.frameworks import megatron as mf

    assert mf.kind_of("output_layer.weight") == "output"
    assert mf.kind_of("output_layer.weight", tied=True) == "embedding"
    assert mf.kind_of("decoder.layers.3.self_attention.linear_qkv.weight") == "q"
    assert mf.kind_of("decoder.layers.3.self_attention.linear_qkv.layer_norm_weight") == "norm"
    assert mf.kind_of("decoder.layers.3.self_attention.k_layernorm.bias") == "qk_norm"
    assert mf.kind_of("decoder.layers.3.mlp.linear_fc2.bias") == "bias"
    assert mf.kind_of("decoder.final_layernorm.weight") == "final_norm"
    with pytest.raises(ValueError):
        mf.kind_of("embedding.position_embeddings.weight")
    runs = mf.qkv_row_runs(heads=4, kv_heads=2, head_dim=3)
    assert runs == (("q", 0, 6), ("k", 6, 9), ("v", 9, 12), ("q", 12, 18), ("k", 18, 21), ("v", 21, 24))


@pytest.mark.slow
def test_global_state_is_restored(observer, compiled):
    import torch
    import torch.distributed as dist
    from megatron.core import parallel_state
    from megatron.core.models.gpt.gpt_model import GPTModel
    from megatron.training import global_vars
    from megatron.training import training as mtraining

    out, raw, _ = compiled
    before = (GPTModel.__dict__["__init__"], mtraining.get_megatron_optimizer_config,
              mtraining.get_mup_config_overrides, list(sys.argv))
    rng = torch.get_rng_state()
    observer.observe(out, raw, shrink=True)
    assert not dist.is_initialized() and not parallel_state.model_parallel_is_initialized()
    assert global_vars._GLOBAL_ARGS is None
    assert (GPTModel.__dict__["__init__"], mtraining.get_megatron_optimizer_config,
            mtraining.get_mup_config_overrides, list(sys.argv)) == before
    assert torch.equal(torch.get_rng_state(), rng)
    assert observer.MODULE not in sys.modules


@pytest.mark.slow
def test_runs_in_a_fresh_process(observer, compiled):
    out, _, _ = compiled
    code = ("import json, sys; from pathlib import Path; from recipec.inspect.megatron import observe; "
            "o = observe(Path(sys.argv[1]), json.loads((Path(sys.argv[1]) / 'resolved.json').read_text()), "
            "shrink=True); print(len(o.rows))")
    done = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.strip().splitlines()[-1]) > 0


def test_missing_framework_says_how_to_install(monkeypatch):
    from recipec.inspect import megatron
    from recipec.inspect.observed import FrameworkMissing

    monkeypatch.setitem(sys.modules, "megatron.core", None)  # import megatron.core raises ImportError
    with pytest.raises(FrameworkMissing) as e:
        megatron._import_framework()
    assert "pip install" in e.value.pip and "megatron-core==0.19.2" in e.value.pip


@pytest.mark.parametrize("tp", [1, 2, 4, 8])
def test_wrapper_qkv_rows_per_tensor_parallel_shard(compiled, monkeypatch, tp):
    """The wrapper's per-shard q/k/v row runs tile recipec.frameworks.megatron's layout of the full tensor, also
    when a shard cuts through a query group (tensor parallel > query groups)."""
    from types import SimpleNamespace

    from recipec.frameworks import megatron as mf
    from recipec.inspect.observed import import_file

    out, _, _ = compiled
    wrapper = import_file(out / "megatron_pretrain.py", "recipec_test_megatron_wrapper")
    try:
        stds = {"q": 0.1, "k": 0.2, "v": 0.3}
        monkeypatch.setattr(wrapper, "INIT_STD", {**wrapper.INIT_STD, **stds})
        config = SimpleNamespace(num_attention_heads=8, num_query_groups=2, kv_channels=4)
        full = [stds[k] for k, a, b in mf.qkv_row_runs(8, 2, 4) for _ in range(a, b)]
        rows = len(full) // tp
        tiled = []
        for rank in range(tp):
            runs = wrapper._qkv_runs(config, rows, rank, tp)
            assert runs[0][1] == 0 and runs[-1][2] == rows
            tiled += [std for std, a, b in runs for _ in range(a, b)]
        assert tiled == full
        with pytest.raises(RuntimeError):
            wrapper._qkv_runs(config, rows + 1, 0, tp)
    finally:
        sys.modules.pop("recipec_test_megatron_wrapper", None)
