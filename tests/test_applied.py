"""Applied, not just parsed: what the frameworks *do* with each parameter of a recipe whose classes differ.

These build each framework's own model and read back what it gives every parameter. The recipe
``tests/data/distinct.yaml`` gives every class its own LR, weight decay, eps and init std, so a
parameter put in the wrong class shows up as a wrong number; its sizes make a Linear's out_features
equal the vocabulary (the proxy's MLP, and q/o at size ``vocab-width``).
"""

from __future__ import annotations

import importlib
import math
import sys

import pytest
from golden_cases import ROOT, render_case

DISTINCT = ROOT / "tests" / "data" / "distinct.yaml"


def _render(tmp_path, size, targets):
    out = tmp_path / f"out-{size}"
    out.mkdir()
    for f in render_case("distinct", size, None, targets=targets, path=DISTINCT,
                         display="tests/data/distinct.yaml").files:
        (out / f.path).write_text(f.text, encoding="utf-8")
    return out


def _import_from(out, module, monkeypatch):
    monkeypatch.syspath_prepend(str(out))
    sys.modules.pop(module, None)
    importlib.invalidate_caches()
    return importlib.import_module(module)


@pytest.mark.slow
def test_megatron_lm_head_is_the_output_class(tmp_path, monkeypatch):
    """megatron-core marks output_layer.weight with is_embedding_parameter under --use-mup
    (LanguageModule.setup_embeddings_and_output_layer); the readout must still get the output class."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("megatron.core")
    out = _render(tmp_path, "wide", ("megatron",))
    wrapper = _import_from(out, "megatron_pretrain", monkeypatch)
    readout = torch.nn.Parameter(torch.zeros(2048, 32))
    readout.is_embedding_parameter = True  # what --use-mup sets on the untied output layer
    readout.is_embedding_or_output_parameter = True
    name = "output_layer.weight"
    matched = [values for key, values in wrapper.recipec_config_overrides().items() if key.matches(readout, name)]
    assert len(matched) == 1
    from recipec.load import load_recipe
    from recipec.transfer import resolve_loaded

    r = resolve_loaded(load_recipe(DISTINCT), "wide")
    assert math.isclose(matched[0]["max_lr"], r.classes["output"].lr.value, rel_tol=1e-12)
    assert math.isclose(matched[0]["eps"], r.classes["output"].eps.value, rel_tol=1e-12)


@pytest.mark.parametrize("size", ["proxy", "vocab-width"])
@pytest.mark.slow
def test_hf_linear_with_vocab_out_features_is_not_the_readout(size):
    """A q/o/gate/up projection whose out_features equals the vocabulary is a hidden matrix, not the readout."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from recipec.torch import classify

    width, ffn = (512, 2048) if size == "proxy" else (2048, 4096)
    cfg = transformers.LlamaConfig(vocab_size=2048, hidden_size=width, intermediate_size=ffn, num_hidden_layers=1,
                                   num_attention_heads=width // 64, num_key_value_heads=4, head_dim=64,
                                   tie_word_embeddings=False)
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(cfg)
    classes = classify(model)
    assert classes["lm_head.weight"] == "output"
    wrong = {n: c for n, c in classes.items() if n.endswith("proj.weight") and c != "hidden"}
    assert not wrong, f"hidden matrices taken for the readout: {sorted(wrong)}"

