"""recipec.torch.param_groups: every parameter of three model families lands in exactly one class."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from golden_cases import render_case  # noqa: E402
from torch import nn  # noqa: E402

from recipec.kinds import KIND_CLASS  # noqa: E402
from recipec.torch import UnclassifiedParameterError, class_counts, classify, param_groups  # noqa: E402

VOCAB = 321  # distinct from every other dimension below


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = nn.ModuleDict({"c_attn": nn.Linear(d, 3 * d), "c_proj": nn.Linear(d, d)})
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = nn.ModuleDict({"c_fc": nn.Linear(d, 4 * d), "c_proj": nn.Linear(4 * d, d)})


class NanoGPT(nn.Module):
    """nanoGPT's layout: wte/wpe embeddings, pre-LN blocks with biases, lm_head tied to wte."""

    def __init__(self, d=32, n_layer=3, block_size=16, tied=True):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(VOCAB, d), wpe=nn.Embedding(block_size, d),
            h=nn.ModuleList(Block(d) for _ in range(n_layer)), ln_f=nn.LayerNorm(d)))
        self.lm_head = nn.Linear(d, VOCAB, bias=False)
        if tied:
            self.lm_head.weight = self.transformer.wte.weight


def _resolved():
    from golden_cases import ROOT

    from recipec.load import load_recipe
    from recipec.transfer import resolve_loaded

    return resolve_loaded(load_recipe(ROOT / "examples" / "llama-proxy.yaml"), "8b")


def _check_partition(model, counts):
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    classes = classify(model)
    assert sorted(classes) == sorted(names)  # every parameter exactly once
    assert class_counts(model) == counts
    groups = param_groups(model, _resolved())
    seen = [id(p) for g in groups for p in g["params"]]
    assert len(seen) == len(set(seen)) == len(names)
    torch.optim.AdamW(groups)  # torch accepts the groups


@pytest.mark.parametrize("tied", [True, False])
def test_nanogpt(tied):
    n = 3
    model = NanoGPT(n_layer=n, tied=tied)
    # per block: 4 linear weights (hidden) + 4 biases + 2 LN × (weight, bias) = 8 vectors
    _check_partition(model, {"hidden": 4 * n, "embedding": 2, "output": 0 if tied else 1, "vector": 8 * n + 2})


def test_groups_carry_the_resolved_numbers():
    r = _resolved()
    model = NanoGPT(tied=False)
    for g in param_groups(model, r):  # one group per kind, with that kind's numbers (its class's unless they differ)
        want = r.kind_coupled(g["name"])
        assert g["cls"] == KIND_CLASS[g["name"]]
        assert g["lr"] == want.lr
        assert g["weight_decay"] == want.weight_decay
        assert g["eps"] == want.eps
        assert g["betas"] == tuple(r.optimizer.betas)


def test_param_groups_json_gives_the_same_groups(tmp_path):
    files = {f.path: f.text for f in render_case("llama-proxy", "8b", None, targets=("neutral",)).files}
    path = tmp_path / "param_groups.json"
    path.write_text(files["param_groups.json"], encoding="utf-8")
    model = NanoGPT(tied=False)
    from_json = param_groups(model, path, lower_multipliers=True)
    from_resolved = param_groups(model, _resolved(), lower_multipliers=True)
    strip = lambda gs: [{k: v for k, v in g.items() if k != "params"} for g in gs]  # noqa: E731
    assert strip(from_json) == strip(from_resolved)


def test_unclassifiable_parameter_fails_loudly_and_overrides_fix_it():
    model = NanoGPT()
    model.register_parameter("gate", nn.Parameter(torch.zeros(2, 3, 4)))
    with pytest.raises(UnclassifiedParameterError, match="'gate'.*shape \\(2, 3, 4\\)"):
        classify(model)
    assert classify(model, overrides={r"^gate$": "hidden"})["gate"] == "hidden"


def test_override_with_unknown_class_is_rejected():
    with pytest.raises(ValueError, match="not one of"):
        classify(NanoGPT(), overrides={"x": "matrix"})


@pytest.mark.frameworks
@pytest.mark.parametrize("tied", [False, True])
def test_hf_llama(tied):
    transformers = pytest.importorskip("transformers")
    n = 3
    cfg = transformers.LlamaConfig(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=n,
                                   num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=tied)
    model = transformers.LlamaForCausalLM(cfg)
    # q, k, v, o, gate, up, down per layer; input/post-attention norms per layer + final norm
    _check_partition(model, {"hidden": 7 * n, "embedding": 1, "output": 0 if tied else 1, "vector": 2 * n + 1})


@pytest.mark.frameworks
def test_torchtitan_llama3():
    pytest.importorskip("torchtitan")
    from torchtitan.models.llama3 import llama3_configs

    model = llama3_configs["debugmodel"](attn_backend="flex").build()
    n = sum(1 for name, _ in model.named_parameters() if name.endswith("attention_norm.weight"))
    # fused wqkv, wo, w1, w2, w3 per layer; two norms per layer + final norm
    _check_partition(model, {"hidden": 5 * n, "embedding": 1, "output": 1, "vector": 2 * n + 1})
