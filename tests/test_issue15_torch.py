"""Issue 15, runtime and applied side: recipec.torch classifies MoE experts, shared experts and the router by the
model's structure (HF Qwen3-MoE / Qwen2-MoE fused experts, a plain-PyTorch MoE with one Linear per expert),
builds torch.optim.Muon + AdamW per kind, refuses 3-D experts under Muon; the hf target trains Muon and
Qwen3-MoE and refuses what Qwen3-MoE cannot express; ``recipec inspect`` (hf, neutral) reads back every
parameter's optimizer class and numbers, for recipes whose kinds all differ, and names a hand edit.
"""

from __future__ import annotations

import json

import pytest
from golden_cases import ROOT, render_case

from tests.conftest import run_cli

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from recipec.torch import (  # noqa: E402
    MuonShapeError,
    Optimizers,
    classify_kinds,
    optimizers,
    param_groups,
)

DATA = ROOT / "tests" / "data"
MUON = DATA / "muon-distinct.yaml"
MOE = DATA / "moe-distinct-hf.yaml"


def _resolved(path, size=None, display=None):
    from recipec.load import load_recipe
    from recipec.transfer import resolve_loaded

    return resolve_loaded(load_recipe(path, display=display), size)


def _compile(tmp_path_factory, path, size, targets=("hf", "neutral"), display=None):
    out = tmp_path_factory.mktemp(f"i15-{path.stem}-{size or 'proxy'}")
    for f in render_case(path.stem, size, None, targets=targets, path=path, display=display or str(path)).files:
        (out / f.path).write_text(f.text, encoding="utf-8")
    return out


# --------------------------------------------------------------------------- a plain-PyTorch MoE


class Expert(nn.Module):
    def __init__(self, d, f):
        super().__init__()
        self.w1, self.w3, self.w2 = (nn.Linear(d, f, bias=False), nn.Linear(d, f, bias=False),
                                     nn.Linear(f, d, bias=False))


class MoEBlock(nn.Module):
    def __init__(self, d, f, n, shared, router_name="router"):
        super().__init__()
        setattr(self, router_name, nn.Linear(d, n, bias=False))
        self.experts = nn.ModuleList(Expert(d, f) for _ in range(n))
        if shared:
            self.shared_experts = Expert(d, shared * f)


class Block(nn.Module):
    def __init__(self, d, f, n, shared, router_name):
        super().__init__()
        self.attention_norm, self.ffn_norm = nn.RMSNorm(d), nn.RMSNorm(d)
        self.attention = nn.Module()
        self.attention.wq, self.attention.wk = nn.Linear(d, d, bias=False), nn.Linear(d, d // 2, bias=False)
        self.attention.wv, self.attention.wo = nn.Linear(d, d // 2, bias=False), nn.Linear(d, d, bias=False)
        self.moe = MoEBlock(d, f, n, shared, router_name)


class PlainMoE(nn.Module):
    """Sizes chosen to mislead a shape-based classifier: the router's fan-out (num_experts) equals the vocabulary,
    the expert hidden size equals the width, the shared experts' hidden size equals the vocabulary."""

    def __init__(self, d=32, n=8, vocab=8, shared=1, router_name="router", layers=2):
        super().__init__()
        self.tok_embeddings = nn.Embedding(vocab, d)
        self.layers = nn.ModuleList(Block(d, d, n, shared, router_name) for _ in range(layers))
        self.norm = nn.RMSNorm(d)
        self.output = nn.Linear(d, vocab, bias=False)


@pytest.mark.parametrize("router_name", ["router", "gate"])
def test_plain_moe_kinds_by_structure(router_name):
    kinds = classify_kinds(PlainMoE(router_name=router_name))
    want = {"tok_embeddings.weight": "embedding", "output.weight": "output", "norm.weight": "final_norm",
            f"layers.1.moe.{router_name}.weight": "router",
            "layers.0.moe.experts.7.w1.weight": "expert_in", "layers.0.moe.experts.7.w3.weight": "expert_in",
            "layers.0.moe.experts.0.w2.weight": "expert_out",
            "layers.1.moe.shared_experts.w1.weight": "shared_in", "layers.1.moe.shared_experts.w2.weight": "shared_out",
            "layers.0.attention.wq.weight": "q", "layers.0.attention.wo.weight": "o",
            "layers.0.ffn_norm.weight": "norm"}
    for name, kind in want.items():
        assert kinds[name] == kind, name
    counts = {k: list(kinds.values()).count(k) for k in set(kinds.values())}
    assert counts["expert_in"] == 2 * 2 * 8 and counts["expert_out"] == 2 * 8 and counts["router"] == 2
    assert "mlp_in" not in counts and "hidden" not in counts


def test_hf_qwen3_moe_and_qwen2_moe_kinds():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.Qwen3MoeConfig(vocab_size=64, hidden_size=32, intermediate_size=64, moe_intermediate_size=16,
                                      num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                                      num_experts=4, num_experts_per_tok=2)
    with torch.device("meta"):
        kinds = classify_kinds(transformers.Qwen3MoeForCausalLM(cfg))
    from recipec.frameworks.hf import kind_of

    assert kinds == {n: kind_of(n) for n in kinds}  # the structural classifier agrees with the documented table
    assert kinds["model.layers.1.mlp.experts.gate_up_proj"] == "expert_in"
    assert kinds["model.layers.1.mlp.experts.down_proj"] == "expert_out"
    assert kinds["model.layers.0.mlp.gate.weight"] == "router"
    cfg2 = transformers.Qwen2MoeConfig(vocab_size=64, hidden_size=32, intermediate_size=64, moe_intermediate_size=16,
                                       shared_expert_intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
                                       num_key_value_heads=1, num_experts=4, num_experts_per_tok=2)
    with torch.device("meta"):
        kinds2 = classify_kinds(transformers.Qwen2MoeForCausalLM(cfg2))
    assert kinds2["model.layers.0.mlp.shared_expert.gate_proj.weight"] == "shared_in"
    assert kinds2["model.layers.0.mlp.shared_expert.down_proj.weight"] == "shared_out"
    assert kinds2["model.layers.0.mlp.experts.gate_up_proj"] == "expert_in"
    assert kinds2["model.layers.0.mlp.shared_expert_gate.weight"] == "hidden"  # no kind documents it: its class


# --------------------------------------------------------------------------- optimizers


def _llama_like(d=256, kv=128, f=768, vocab=1024, layers=2):
    """The muon-distinct proxy's shape in HF Llama names (no transformers needed)."""

    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.q_proj, self.k_proj = nn.Linear(d, d, bias=False), nn.Linear(d, kv, bias=False)
            self.v_proj, self.o_proj = nn.Linear(d, kv, bias=False), nn.Linear(d, d, bias=False)

    class Mlp(nn.Module):
        def __init__(self):
            super().__init__()
            self.gate_proj, self.up_proj = nn.Linear(d, f, bias=False), nn.Linear(d, f, bias=False)
            self.down_proj = nn.Linear(f, d, bias=False)

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.input_layernorm, self.post_attention_layernorm = nn.RMSNorm(d), nn.RMSNorm(d)
            self.self_attn, self.mlp = Attn(), Mlp()

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed_tokens = nn.Embedding(vocab, d)
            self.layers = nn.ModuleList(Layer() for _ in range(layers))
            self.norm = nn.RMSNorm(d)
            self.lm_head = nn.Linear(d, vocab, bias=False)

    return M()


def test_muon_groups_carry_each_kinds_numbers_and_muons_settings():
    from recipec.frameworks.optimizers import kind_values

    r = _resolved(MUON)
    model = _llama_like()
    opt = optimizers(model, r)
    assert isinstance(opt, Optimizers) and set(opt.optimizers) == {"muon", "adamw"}
    assert isinstance(opt.optimizers["muon"], torch.optim.Muon)
    assert isinstance(opt.optimizers["adamw"], torch.optim.AdamW)
    held = {id(p): (name, g) for name, o in opt.optimizers.items() for g in o.param_groups for p in g["params"]}
    kinds = classify_kinds(model)
    lrs = {}
    for pname, p in model.named_parameters():
        name, g = held[id(p)]
        kind = kinds[pname]
        want = kind_values(r, kind)
        assert name == ("muon" if kind in ("q", "k", "v", "o", "mlp_in", "mlp_out") else "adamw"), pname
        assert (g["lr"], g["weight_decay"], g["eps"]) == (want["lr"], want["weight_decay"], want["eps"]), pname
        if name == "muon":
            assert (g["momentum"], g["nesterov"], g["ns_steps"], g["adjust_lr_fn"]) == (0.93, True, 4, "original")
        else:
            assert g["betas"] == (0.9, 0.95)
        lrs[kind] = g["lr"]
    # the recipe's numbers, by hand: per_kind lr for q / o / mlp_out, Muon's lr for k, v, mlp_in; AdamW per class
    assert lrs == {"q": 0.011, "k": 0.02, "v": 0.02, "o": 0.013, "mlp_in": 0.02, "mlp_out": 0.017,
                   "embedding": 1e-2, "output": 4e-3, "norm": 6e-3, "final_norm": 6e-3}
    mlp_in = next(g for g in opt.param_groups if g["name"] == "mlp_in")
    k = next(g for g in opt.param_groups if g["name"] == "k")
    assert (mlp_in["weight_decay"], k["weight_decay"], k["eps"]) == (0.09, 0.05, 3e-7)
    assert len(opt.param_groups) == 10  # the scheduler's view spans both optimizers


def test_muon_steps_and_the_state_round_trips():
    r = _resolved(MUON)
    torch.manual_seed(0)
    model = _llama_like(d=32, kv=16, f=64, vocab=50)
    opt = optimizers(model, r)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    x = torch.randint(0, 50, (2, 8))
    h = model.embed_tokens(x)
    for layer in model.layers:
        a = layer.self_attn
        h = h + a.o_proj(a.q_proj(layer.input_layernorm(h)) + a.k_proj(h).repeat(1, 1, 2) + a.v_proj(h).repeat(1, 1, 2))
        m = layer.mlp
        z = layer.post_attention_layernorm(h)
        h = h + m.down_proj(torch.nn.functional.silu(m.gate_proj(z)) * m.up_proj(z))
    model.lm_head(model.norm(h)).logsumexp(-1).mean().backward()
    opt.step()
    q = model.layers[0].self_attn.q_proj.weight
    dq = (q.detach() - before["layers.0.self_attn.q_proj.weight"] * (1 - 0.011 * 0.05))
    # Muon's update: lr × adjust (original: sqrt(max(1, A/B)) = 1 for a square q) × an orthogonalised matrix whose
    # singular values are near 1 (Newton–Schulz, 4 steps), so its spectral norm is about the LR
    assert 0.3 * 0.011 < torch.linalg.matrix_norm(dq, ord=2).item() < 1.5 * 0.011
    assert all(not torch.equal(before[n], p) for n, p in model.named_parameters())
    state = opt.state_dict()
    assert set(state["optimizers"]) == {"muon", "adamw"}
    opt2 = optimizers(model, r)
    opt2.load_state_dict(state)
    assert torch.equal(opt2.optimizers["muon"].state[q]["momentum_buffer"],
                       opt.optimizers["muon"].state[q]["momentum_buffer"])
    opt.zero_grad()
    assert q.grad is None


def test_a_3d_expert_tensor_under_muon_is_an_error_not_adamw(tmp_path):
    transformers = pytest.importorskip("transformers")
    out = render_case("moe-distinct-hf", None, None, targets=("neutral",), path=MOE,
                      display="tests/data/moe-distinct-hf.yaml")
    groups = json.loads(next(f.text for f in out.files if f.path == "param_groups.json"))
    groups["kinds"]["expert_out"]["optimizer"] = "muon"  # as if the recipe trained the experts with Muon
    path = tmp_path / "param_groups.json"
    path.write_text(json.dumps(groups), encoding="utf-8")
    cfg = transformers.Qwen3MoeConfig(vocab_size=64, hidden_size=32, intermediate_size=64, moe_intermediate_size=16,
                                      num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                                      num_experts=4, num_experts_per_tok=2)
    with torch.device("meta"):
        model = transformers.Qwen3MoeForCausalLM(cfg)
    with pytest.raises(MuonShapeError, match=r"model\.layers\.0\.mlp\.experts\.down_proj \(4, 32, 16\) \(expert_out\)"):
        optimizers(model, path)
    # the same edit on a model with one 2-D Linear per expert trains those experts with Muon
    opt = optimizers(PlainMoE(shared=0, vocab=1024), path)
    muon = {id(p) for g in opt.optimizers["muon"].param_groups for p in g["params"]}
    expert_out = [g for g in opt.param_groups if g["name"] == "expert_out"]
    assert len(expert_out) == 1 and all(id(p) in muon for p in expert_out[0]["params"])
    assert len(expert_out[0]["params"]) == 2 * 8


def test_moe_groups_distinct_per_kind():
    r = _resolved(MOE)
    groups = {g["name"]: g for g in param_groups(PlainMoE(shared=0, vocab=1024, d=256), r)}
    assert {k: groups[k]["lr"] for k in ("expert_in", "expert_out", "router")} == \
        {"expert_in": 2.1e-3, "expert_out": 1.7e-3, "router": 7e-4}
    assert groups["expert_out"]["weight_decay"] == 0.03 and groups["expert_in"]["weight_decay"] == 0.04
    assert groups["q"]["optimizer"] == "muon" and groups["q"]["lr"] == 0.015 and groups["k"]["lr"] == 0.02
    assert groups["expert_in"]["optimizer"] == groups["router"]["optimizer"] == "adamw"
    assert groups["router"]["eps"] == 5e-10  # the router is class output: the readout's eps


# --------------------------------------------------------------------------- hf target


def test_hf_refuses_what_qwen3_moe_cannot_train(tmp_path, write_recipe):
    r = run_cli("compile", "examples/moe-proxy.yaml", "-t", "hf", "-o", str(tmp_path / "a"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "examples/moe-proxy.yaml:26:" in r.stderr and "model.moe.shared_experts" in r.stderr, r.stderr
    lint = run_cli("lint", "examples/moe-proxy.yaml", "--target", "hf")
    assert "RC603" in lint.stdout and "shared_experts=1 is NOT applied" in lint.stdout, lint.stdout
    text = MOE.read_text(encoding="utf-8").replace("    kinds: [q, k, v, o]\n", "")  # Muon on every matrix kind
    r = run_cli("compile", str(write_recipe(text)), "-t", "hf", "-o", str(tmp_path / "b"))
    assert r.returncode == 2 and "optimizer.muon" in r.stderr and "3-D" in r.stderr, r.stderr
    assert run_cli("compile", str(write_recipe(text)), "-t", "neutral", "-o", str(tmp_path / "c")).returncode == 0


def test_hf_moe_script_sets_qwen3_moe(tmp_path_factory):
    out = _compile(tmp_path_factory, MOE, None, targets=("hf",))
    text = (out / "hf_train.py").read_text(encoding="utf-8")
    for line in ("MODEL_CLASS = 'Qwen3MoeForCausalLM'", "num_experts=4,", "num_experts_per_tok=2,",
                 "moe_intermediate_size=192,", "norm_topk_prob=True,", "output_router_logits=True,",
                 "router_aux_loss_coef=0.02,", "decoder_sparse_step=1,"):
        assert line in text, line


# --------------------------------------------------------------------------- inspect


CASES = [(MUON, None), (MUON, "wide"), (MOE, None), (MOE, "wide"),
         (ROOT / "examples" / "muon-proxy.yaml", None), (ROOT / "examples" / "muon-proxy.yaml", "wide"),
         (ROOT / "examples" / "muon-proxy.yaml", "xl")]


@pytest.mark.frameworks
@pytest.mark.parametrize("path,size", CASES, ids=[f"{p.stem}-{s or 'proxy'}" for p, s in CASES])
@pytest.mark.parametrize("target", ["hf", "neutral"])
def test_inspect_agrees(path, size, target, tmp_path_factory):
    pytest.importorskip("transformers")
    from recipec.inspect import inspect_dir

    display = f"examples/{path.name}" if path.parent.name == "examples" else f"tests/data/{path.name}"
    out = _compile(tmp_path_factory, path, size, display=display)
    for shrink in (False, True) if size == "wide" else (False,):
        report = inspect_dir(out, target, shrink=shrink)
        assert report.ok, "\n".join(report.differences)
        rows = report.rows
        muon = {r.row.kind for r in rows if r.row.optimizer == "muon"}
        want = {k for k, v in _resolved(path, size).kinds.items() if v.optimizer == "muon"}
        assert muon == want and muon, (muon, want)
        assert all(r.row.optimizer == "adamw" for r in rows if r.row.kind not in want)


@pytest.mark.frameworks
@pytest.mark.parametrize("size", [None, "wide", "xl"])
def test_inspect_moe_example_neutral_every_size(size, tmp_path_factory):
    from recipec.inspect import inspect_dir

    out = _compile(tmp_path_factory, ROOT / "examples" / "moe-proxy.yaml", size, targets=("neutral",),
                   display="examples/moe-proxy.yaml")
    report = inspect_dir(out, "neutral", shrink=size == "xl")
    assert report.ok, "\n".join(report.differences)
    kinds = {r.row.kind for r in report.rows}
    assert {"expert_in", "expert_out", "shared_in", "shared_out", "router"} <= kinds and "mlp_in" not in kinds


def _edit(path, edit):
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


@pytest.mark.frameworks
@pytest.mark.parametrize("target", ["hf", "neutral"])
def test_inspect_names_a_hand_edit(target, tmp_path_factory):
    pytest.importorskip("transformers")
    from recipec.inspect import inspect_dir

    out = _compile(tmp_path_factory, MOE, "wide", display="tests/data/moe-distinct-hf.yaml")
    assert inspect_dir(out, target).ok
    # q moved from Muon to AdamW (with an Adam eps): every q matrix is named, with its optimizer
    _edit(out / "param_groups.json", lambda d: d["kinds"]["q"].update(optimizer="adamw", eps=1e-8))
    diffs = inspect_dir(out, target).differences
    assert diffs and all("q_proj" in d for d in diffs), diffs
    assert sum("optimizer adamw ≠ muon" in d for d in diffs) == 2  # one per layer
    if target == "hf":  # the CLI's exit code, once
        bad = run_cli("inspect", str(out), "--target", target)
        assert bad.returncode == 1 and "optimizer adamw ≠ muon" in bad.stdout, bad.stdout + bad.stderr
    _edit(out / "param_groups.json", lambda d: d["kinds"]["q"].update(optimizer="muon", eps=1e-7))
    assert inspect_dir(out, target).ok
    # expert_out's LR changed: every routed expert's down-projection is named
    _edit(out / "param_groups.json", lambda d: d["kinds"]["expert_out"].update(lr=1e-3))
    diffs = inspect_dir(out, target).differences
    names = "down_proj" if target == "hf" else ".w2."
    assert diffs and all(names in d and ": lr " in d for d in diffs), diffs
    per_layer = 1 if target == "hf" else 4  # hf: one fused tensor per layer; neutral: one Linear per expert
    assert len(diffs) == 2 * per_layer
