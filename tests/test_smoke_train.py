"""CPU smoke tests: the generated launch scripts train a few steps, unchanged, on data the test writes.

- hf: ``launch_hf_torchrun.sh --dataset DIR --cpu`` (``--cpu`` is the generated script's documented CPU
  path: ``use_cpu=True``, no fp16; bf16 runs as CPU autocast). Five Trainer steps.
- torchtitan: ``launch_torchtitan_torchrun.sh --metrics.log_freq 1`` with ``RECIPEC_DATA`` (a
  nanoGPT-style uint16 token file), one gloo process. The CPU switches are in
  ``tests/smoke/sitecustomize.py`` (put on PYTHONPATH, active with ``RECIPEC_CPU_SMOKE=1``) plus
  ``TORCHDYNAMO_DISABLE=1``; that module's docstring says what each one replaces and why.
- megatron cannot train without CUDA (its fused kernels and the distributed optimizer's buffers);
  ``test_megatron_builds_from_argv`` builds its model, optimizer groups and LR scheduler from the
  generated argv instead.

Needs the framework extras (``pytest -m frameworks``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from golden_cases import ROOT

pytestmark = pytest.mark.frameworks

RECIPE = ROOT / "tests" / "data" / "smoke-train.yaml"
SHIM = ROOT / "tests" / "smoke"
STEPS = 5  # smoke-train.yaml: 640 tokens / (4 × 32) per step


def _compile(out: Path, target: str, recipe: Path = RECIPE) -> None:
    from click.testing import CliRunner

    from recipec.cli import main

    result = CliRunner().invoke(main, ["compile", str(recipe), "--target", target, "--launcher", "torchrun",
                                       "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output


def _env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECIPEC_", "SLURM_"))}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")  # torchrun of this Python
    env.update(OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", **extra)
    return env


def _tokens(n: int, vocab: int = 256):
    """A learnable token stream: a repeating pattern with a little noise."""
    import numpy as np

    rng = np.random.default_rng(0)
    pattern = rng.integers(0, vocab, size=61)
    data = np.resize(pattern, n)
    flip = rng.random(n) < 0.05
    data[flip] = rng.integers(0, vocab, size=int(flip.sum()))
    return data


def _launch(script: Path, cwd: Path, args=(), **env) -> subprocess.CompletedProcess:
    result = subprocess.run(["bash", str(script), *args], cwd=cwd, env=_env(**env), capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    return result


@pytest.mark.slow
def test_hf_trains_from_the_generated_script(tmp_path):
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    datasets = pytest.importorskip("datasets")
    out, run = tmp_path / "out", tmp_path / "run"
    run.mkdir()
    _compile(out, "hf")
    _train_hf(datasets, out, run, tmp_path)
    assert (run / "outputs").is_dir()


def _train_hf(datasets, out, run, tmp_path) -> None:
    """Launch the generated HF script on a small token dataset; the Trainer must run the recipe's steps."""
    tokens = _tokens(32 * 64)
    data = tmp_path / "data"
    datasets.Dataset.from_dict({"input_ids": tokens.reshape(-1, 32).tolist()}).save_to_disk(str(data))
    result = _launch(out / "launch_hf_torchrun.sh", run, ["--dataset", str(data), "--cpu"])
    log = result.stdout + result.stderr
    assert "'train_loss'" in log, log[-3000:]
    # the Trainer ran the recipe's steps with the recipe's output directory (relative to the working directory)
    assert re.search(rf"\b{STEPS:d}/{STEPS:d}\b", log), log[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["smoke-train-muon", "smoke-train-moe"])
def test_hf_trains_with_muon_and_moe_from_the_generated_script(tmp_path, recipe, monkeypatch):
    """Issue 15: the same launch script trains with torch.optim.Muon + AdamW (dense Llama), and a Qwen3-MoE
    with Muon on the attention matrices and AdamW on the experts and router; the built optimizer really is
    Muon for the Muon kinds (read from the optimizer objects)."""
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    datasets = pytest.importorskip("datasets")
    out, run = tmp_path / "out", tmp_path / "run"
    run.mkdir()
    _compile(out, "hf", ROOT / "tests" / "data" / f"{recipe}.yaml")
    monkeypatch.syspath_prepend(str(out))
    sys.modules.pop("hf_train", None)
    import hf_train
    import torch

    model = hf_train.build_model(hf_train.model_config())
    opt = hf_train.build_optimizer(model)
    assert set(opt.optimizers) == {"muon", "adamw"}
    muon_params = {id(p) for g in opt.optimizers["muon"].param_groups for p in g["params"]}
    names = {n for n, p in model.named_parameters() if id(p) in muon_params}
    assert isinstance(opt.optimizers["muon"], torch.optim.Muon)
    matrices = {n for n, p in model.named_parameters() if p.ndim >= 2 and (".self_attn." in n or ".mlp." in n)}
    if recipe == "smoke-train-moe":  # muon.kinds [q, k, v, o]: the experts and the router stay on AdamW
        assert names == {n for n in matrices if ".self_attn." in n}
        assert any(".mlp.experts." in n for n in matrices) and any(n.endswith(".mlp.gate.weight") for n in matrices)
    else:  # every attention and MLP matrix
        assert names == matrices
    _train_hf(datasets, out, run, tmp_path)


def test_hf_reads_a_token_file(tmp_path, monkeypatch):
    """The same script's nanoGPT-style token-file path (RECIPEC_DATA) gives rows of seq_len tokens."""
    pytest.importorskip("transformers")
    out = tmp_path / "out"
    _compile(out, "hf")
    path = tmp_path / "tokens.bin"
    _tokens(32 * 10 + 5).astype("uint16").tofile(path)
    monkeypatch.syspath_prepend(str(out))
    sys.modules.pop("hf_train", None)
    import hf_train

    rows = hf_train.load_data(str(path))
    assert len(rows) == 10 and len(rows[3]["input_ids"]) == 32
    with pytest.raises(ValueError, match="outside vocab_size"):
        path.write_bytes((_tokens(64) + 300).astype("uint16").tobytes())
        hf_train.load_data(str(path))[0]


@pytest.mark.slow
def test_torchtitan_trains_from_the_generated_config(tmp_path):
    pytest.importorskip("torchtitan")
    if shutil.which("torchrun", path=os.path.dirname(sys.executable)) is None:
        pytest.skip("torchrun is not installed beside this Python")
    out, run = tmp_path / "out", tmp_path / "run"
    run.mkdir()
    _compile(out, "torchtitan")
    data = tmp_path / "tokens.bin"
    _tokens(33 * 40).astype("uint16").tofile(data)
    result = _launch(out / "launch_torchtitan_torchrun.sh", run, ["--metrics.log_freq", "1"],
                     RECIPEC_DATA=str(data), RECIPEC_CPU_SMOKE="1", TORCHDYNAMO_DISABLE="1", PYTHONPATH=str(SHIM))
    log = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
    losses = {int(s): float(v) for s, v in re.findall(r"step:\s+(\d+)\s+loss:\s+([0-9.]+)", log)}
    assert sorted(losses) == list(range(1, STEPS + 1)), log[-3000:]
    assert all(0 < v < 10 for v in losses.values())
    assert losses[STEPS] < losses[1] - 0.2, losses  # it learns the repeating pattern (measured: 5.57 → 4.72)
    assert "Training completed" in log
    assert (run / "outputs").is_dir()  # torchtitan's dump folder, in the working directory


def test_torchtitan_without_data_uses_its_own_dataloader(tmp_path, monkeypatch):
    """No RECIPEC_DATA: torchtitan's HuggingFaceTextDataLoader, whose settings come from its command line."""
    pytest.importorskip("torchtitan")
    from torchtitan.config import ConfigManager

    out = tmp_path / "out"
    _compile(out, "torchtitan")
    monkeypatch.syspath_prepend(str(out))
    monkeypatch.delenv("RECIPEC_DATA", raising=False)
    sys.modules.pop("recipec_torchtitan", None)
    cfg = ConfigManager().parse_args(["--module", "recipec_torchtitan", "--config", "recipec_config",
                                      "--dataloader.dataset", "c4", "--dataloader.dataset_path", "/data/c4",
                                      "--hf_assets_path", "/assets/tok"])
    assert type(cfg.dataloader).__qualname__ == "HuggingFaceTextDataLoader.Config"
    assert ((cfg.dataloader.dataset, cfg.dataloader.dataset_path, cfg.hf_assets_path)
            == ("c4", "/data/c4", "/assets/tok"))
    monkeypatch.setenv("RECIPEC_DATA", str(tmp_path / "missing.bin"))
    sys.modules.pop("recipec_torchtitan", None)
    with pytest.raises(FileNotFoundError, match="RECIPEC_DATA"):
        ConfigManager().parse_args(["--module", "recipec_torchtitan", "--config", "recipec_config"])


@pytest.mark.slow
def test_megatron_builds_from_argv(tmp_path):
    """Megatron's model, optimizer groups and scheduler from the generated argv (it cannot train without CUDA)."""
    import importlib.util
    import json
    import math
    import shlex

    from recipec.load import load_recipe
    from recipec.transfer import resolve_loaded

    if importlib.util.find_spec("megatron") is None or importlib.util.find_spec("megatron.training") is None:
        pytest.skip("megatron-core's source distribution is not installed")
    out = tmp_path / "out"
    _compile(out, "megatron")
    dry = _launch(out / "launch_megatron_torchrun.sh", tmp_path, RECIPEC_DRY_RUN="1").stdout
    words = shlex.split(dry)
    argv = words[words.index(str(out / "megatron_pretrain.py")) + 1:]
    result = subprocess.run([sys.executable, str(SHIM / "megatron_build.py"), str(out), *argv], cwd=tmp_path,
                            env=_env(MASTER_PORT="29533"), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("RECIPEC-JSON ")]
    report = json.loads(line[len("RECIPEC-JSON "):])
    r = resolve_loaded(load_recipe(RECIPE), None)
    sh = r.shape
    assert report["parameters"] == (2 * sh.vocab_size * sh.width + sh.width + sh.depth * (
        2 * sh.width + sh.width * (sh.heads + 2 * sh.kv_heads) * sh.head_dim + sh.heads * sh.head_dim * sh.width
        + 3 * sh.width * sh.ffn_hidden))

    def cls(name):
        if name.endswith("word_embeddings.weight"):
            return "embedding"
        if name.endswith("output_layer.weight"):
            return "output"
        return "vector" if "layernorm" in name or name.endswith(".bias") else "hidden"

    assert len(report["groups"]) == 3 + 6 * sh.depth
    for name, g in report["groups"].items():
        c = cls(name)
        hp = r.classes[c]
        for got, want in ((g["lr"], hp.lr.value), (g["max_lr"], hp.lr.value),
                          (g["min_lr"], hp.lr.value * r.schedule.min_lr_ratio),
                          (g["weight_decay"], r.coupled_weight_decay(c)), (g["eps"], hp.eps.value)):
            assert math.isclose(got, want, rel_tol=1e-9, abs_tol=0.0), (name, g)
