"""Each framework's own parser accepts the rendered configs and reads back every group's LR and WD.

Needs the framework extras (.ci/install-frameworks.sh): torchtitan 0.3, transformers 5 + accelerate,
megatron-core's source distribution. Run with ``pytest -m frameworks``.
"""

from __future__ import annotations

import importlib
import math
import os
import shlex
import subprocess
import sys

import pytest
from golden_cases import ROOT, TARGETS, render_case

pytestmark = pytest.mark.frameworks

CASES = [("llama-proxy", "1b"), ("llama-proxy", "8b"), ("completep-depth", "wide-deep"), ("completep-depth", "xl")]
# 70b adds tensor parallelism (8) for Megatron's validate_args
MEGATRON_CASES = CASES + [("llama-proxy", "70b")]
VOCAB = 321
REL = 1e-9


def close(a, b):
    return math.isclose(a, b, rel_tol=REL, abs_tol=0.0)


def _resolved(example, size):
    from recipec.load import load_recipe
    from recipec.transfer import resolve_loaded

    return resolve_loaded(load_recipe(ROOT / "examples" / f"{example}.yaml"), size)


@pytest.fixture(scope="module", params=CASES, ids=[f"{e}-{s}" for e, s in CASES])
def case(request, tmp_path_factory):
    example, size = request.param
    out = tmp_path_factory.mktemp(f"{example}-{size}")
    for f in render_case(example, size, "torchrun", targets=TARGETS).files:
        p = out / f.path
        p.write_text(f.text, encoding="utf-8")
        if f.executable:
            p.chmod(0o755)
    return example, size, out, _resolved(example, size)


def _import_from(out, module, monkeypatch):
    monkeypatch.syspath_prepend(str(out))
    sys.modules.pop(module, None)
    importlib.invalidate_caches()
    return importlib.import_module(module)


def expected(r, cls, scale=1.0):
    """The class's numbers with a forward multiplier ``scale`` folded into the weight (Adam-exact)."""
    hp = r.classes[cls]
    return {"lr": hp.lr.value * scale, "weight_decay": r.coupled_weight_decay(cls) / scale, "eps": hp.eps.value / scale}


def assert_group(group, want, what):
    for key in ("lr", "weight_decay", "eps"):
        got = group["initial_lr"] if key == "lr" and "initial_lr" in group else group[key]
        assert close(got, want[key]), f"{what}: {key} {got!r} != {want[key]!r}"


# --------------------------------------------------------------------------- torchtitan


def _torchtitan_class(r, name):
    m = r.multipliers
    if name.endswith(("attention_norm.weight", "ffn_norm.weight", "q_norm.weight", "k_norm.weight")) \
            or name == "norm.weight" or name.endswith(".bias"):
        return expected(r, "vector")
    if name.endswith("tok_embeddings.weight"):
        return expected(r, "embedding", m.embedding_multiplier.value)
    if name.endswith("lm_head.weight"):
        return expected(r, "output", m.output_multiplier.value)
    if name.endswith(("attention.wo.weight", "feed_forward.w2.weight")):
        return expected(r, "hidden", m.residual_multiplier.value)
    return expected(r, "hidden")


def test_torchtitan(case, monkeypatch):
    pytest.importorskip("torchtitan")
    from torchtitan.config import ConfigManager

    example, size, out, r = case
    module = _import_from(out, "recipec_torchtitan", monkeypatch)
    cfg = ConfigManager().parse_args(["--module", "recipec_torchtitan", "--config", "recipec_config"])
    assert cfg.training.steps == r.schedule.total_steps
    assert cfg.training.local_batch_size == r.batch.micro_batch
    assert cfg.training.global_batch_size == r.batch.global_sequences
    assert cfg.lr_scheduler.warmup_steps == r.schedule.warmup_steps
    assert cfg.lr_scheduler.min_lr_factor == (1.0 if r.schedule.decay == "constant" else r.schedule.min_lr_ratio)
    assert cfg.parallelism.data_parallel_shard_degree == r.batch.data_parallel
    assert cfg.parallelism.tensor_parallel_degree == r.cluster.tensor_parallel
    full = cfg.model_spec.model
    assert full.dim == r.shape.width and len(full.layers) == r.shape.depth
    assert full.enable_weight_tying == r.shape.tied_embeddings
    # the same module at a reduced size, built on CPU
    small = module.recipec_model(dim=64, n_layers=2, n_heads=2, n_kv_heads=1, head_dim=32, ffn_hidden=96,
                                 vocab_size=VOCAB)
    model = small.build()
    opt = cfg.optimizer.build(model_parts=[model])
    sched = cfg.lr_scheduler.build(optimizers=opt, training_steps=cfg.training.steps)
    seen = 0
    for o in opt.optimizers:
        for g in o.param_groups:
            wants = {tuple(sorted(_torchtitan_class(r, n).items())) for n in g["param_names"]}
            assert len(wants) == 1, f"group mixes classes: {g['param_names']}"
            assert_group(g, dict(next(iter(wants))), f"torchtitan {g['param_names'][0]}")
            seen += len(g["params"])
    assert seen == len(list(model.parameters()))
    peak = sched.schedulers[0].lr_lambdas[0](r.schedule.warmup_steps)
    assert close(peak, 1.0)


# --------------------------------------------------------------------------- transformers


def _hf_class(r, name):
    m = r.multipliers
    if name.endswith("norm.weight") or name.endswith(".bias"):
        return expected(r, "vector")
    if name.endswith("embed_tokens.weight"):
        return expected(r, "embedding")
    if name.endswith("lm_head.weight"):
        return expected(r, "output", m.output_multiplier.value)
    if name.endswith(("o_proj.weight", "down_proj.weight")):
        return expected(r, "hidden", m.residual_multiplier.value)
    return expected(r, "hidden")


def test_transformers(case, monkeypatch, tmp_path):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    from transformers import HfArgumentParser, TrainingArguments

    example, size, out, r = case
    monkeypatch.chdir(tmp_path)  # TrainingArguments creates output_dir relative to the working directory
    # bf16 does not validate on a CPU-only machine: the check adds use_cpu, nothing else.
    path = tmp_path / "args.yaml"
    path.write_text((out / "hf_training_args.yaml").read_text(encoding="utf-8") + "use_cpu: true\n", encoding="utf-8")
    (args,) = HfArgumentParser(TrainingArguments).parse_yaml_file(str(path), allow_extra_keys=False)
    assert args.max_steps == r.schedule.total_steps and args.warmup_steps == r.schedule.warmup_steps
    assert args.per_device_train_batch_size == r.batch.micro_batch
    assert args.gradient_accumulation_steps == r.batch.grad_accum
    assert close(args.learning_rate, r.classes["hidden"].lr.value)
    assert close(args.weight_decay, r.coupled_weight_decay("hidden"))
    hook = _import_from(out, "hf_train", monkeypatch)
    cfg = transformers.LlamaConfig(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                                   num_attention_heads=2, num_key_value_heads=1,
                                   tie_word_embeddings=r.shape.tied_embeddings)
    model = transformers.LlamaForCausalLM(cfg)
    trainer = hook.RecipecTrainer(model=model, args=args)
    trainer.create_optimizer_and_scheduler(num_training_steps=args.max_steps)
    names = {id(p): n for n, p in model.named_parameters()}
    seen = 0
    for g in trainer.optimizer.param_groups:
        wants = {tuple(sorted(_hf_class(r, names[id(p)]).items())) for p in g["params"]}
        assert len(wants) == 1
        assert_group(g, dict(next(iter(wants))), f"hf {g['name']}")
        seen += len(g["params"])
    assert seen == len(names)


# --------------------------------------------------------------------------- Megatron-LM


MEGATRON_NAMES = {
    "embedding.word_embeddings.weight": ((VOCAB, 64), "embedding"),
    "decoder.layers.0.self_attention.linear_qkv.weight": ((96, 64), "hidden"),
    "decoder.layers.0.self_attention.linear_proj.weight": ((64, 64), "hidden"),
    "decoder.layers.0.mlp.linear_fc1.weight": ((192, 64), "hidden"),
    "decoder.layers.0.mlp.linear_fc2.weight": ((64, 96), "hidden"),
    "decoder.layers.0.self_attention.linear_qkv.layer_norm_weight": ((64,), "vector"),
    "decoder.layers.0.self_attention.q_layernorm.weight": ((32,), "vector"),
    "decoder.layers.0.mlp.linear_fc1.layer_norm_weight": ((64,), "vector"),
    "decoder.final_layernorm.weight": ((64,), "vector"),
    "output_layer.weight": ((VOCAB, 64), "output"),
}


@pytest.fixture(scope="module", params=MEGATRON_CASES, ids=[f"{e}-{s}" for e, s in MEGATRON_CASES])
def megatron_case(request, tmp_path_factory):
    example, size = request.param
    out = tmp_path_factory.mktemp(f"megatron-{example}-{size}")
    for f in render_case(example, size, "torchrun", targets=("megatron",)).files:
        (out / f.path).write_text(f.text, encoding="utf-8")
    return example, size, out, _resolved(example, size)


def test_megatron(megatron_case, monkeypatch):
    import typing

    import torch
    import typing_extensions

    if not hasattr(typing, "override"):  # Megatron's parser needs 3.12's typing.override
        monkeypatch.setattr(typing, "override", typing_extensions.override, raising=False)
    margs = pytest.importorskip("megatron.training.arguments")
    # With TP > 1 validate_args asks the GPU generation; this CPU-only check answers "Hopper".
    monkeypatch.setattr(margs, "get_device_arch_version", lambda: 9)

    example, size, out, r = megatron_case
    wrapper = _import_from(out, "megatron_pretrain", monkeypatch)
    # The launch script runs the wrapper with exactly RECIPEC_ARGS (plus whatever the user appends).
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECIPEC_")}
    dry = subprocess.run(["bash", str(out / "launch_megatron_torchrun.sh")], env=dict(env, RECIPEC_DRY_RUN="1"),
                         capture_output=True, text=True, check=True).stdout
    words = shlex.split(dry)
    i = words.index(str(out / "megatron_pretrain.py"))
    assert words[i + 1:] == list(wrapper.RECIPEC_ARGS)

    monkeypatch.setenv("WORLD_SIZE", str(r.cluster.world_size))
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("CUDA_DEVICE_MAX_CONNECTIONS", "1")
    monkeypatch.setattr(sys, "argv", ["pretrain_gpt.py", *wrapper.RECIPEC_ARGS, "--transformer-impl", "local",
                                      "--no-rope-fusion"])
    args = margs.parse_args()
    margs.validate_args(args)
    width_mult = r.shape.width / r.proxy_shape.width
    assert args.use_mup and args.mup_base_hidden_size == r.proxy_shape.width
    assert args.num_layers == r.shape.depth and args.hidden_size == r.shape.width
    assert args.global_batch_size == r.batch.global_sequences and args.micro_batch_size == r.batch.micro_batch
    assert args.train_iters == r.schedule.total_steps and args.lr_warmup_iters == r.schedule.warmup_steps
    # Megatron's own muP (LR and eps ÷ width_mult) lands on the hidden class
    assert close(args.lr / width_mult, r.classes["hidden"].lr.value)
    assert close(args.adam_eps / width_mult, r.classes["hidden"].eps.value)
    assert close(args.mup_output_mult, r.multipliers.output_multiplier.value)
    overrides = wrapper.recipec_config_overrides()
    for name, (shape, cls) in MEGATRON_NAMES.items():
        if cls == "output" and r.shape.tied_embeddings:
            continue
        param = torch.nn.Parameter(torch.zeros(shape))
        matched = [o for key, o in overrides.items() if key.matches(param, name)]
        assert len(matched) == 1, name
        o = matched[0]
        want = expected(r, cls)
        assert close(o["max_lr"], want["lr"]), name
        assert close(o["min_lr"], want["lr"] * r.schedule.min_lr_ratio), name
        assert close(args.weight_decay * o["wd_mult"], want["weight_decay"]) or want["weight_decay"] == 0 == o["wd_mult"]
        assert close(o["eps"], want["eps"]), name


def test_transformers_hook_trains(case, monkeypatch, tmp_path):
    """hf_train.py's model config matches the recipe, and two Trainer steps run with the recipe's groups."""
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    datasets = pytest.importorskip("datasets")
    import torch

    example, size, out, r = case
    monkeypatch.chdir(tmp_path)
    hook = _import_from(out, "hf_train", monkeypatch)
    full = hook.model_config()
    assert (full.hidden_size, full.num_hidden_layers, full.num_attention_heads, full.num_key_value_heads,
            full.intermediate_size, full.vocab_size, full.tie_word_embeddings) == (
        r.shape.width, r.shape.depth, r.shape.heads, r.shape.kv_heads, r.shape.ffn_hidden, r.shape.vocab_size,
        r.shape.tied_embeddings)
    path = tmp_path / "args.yaml"
    path.write_text((out / "hf_training_args.yaml").read_text(encoding="utf-8") + "use_cpu: true\n", encoding="utf-8")
    args = hook.training_arguments(str(path))
    args = args.__class__(**{**args.to_dict(), "output_dir": str(tmp_path / "run"), "max_steps": 2, "bf16": False,
                             "fp16": False, "gradient_accumulation_steps": 1, "report_to": [], "save_strategy": "no",
                             "logging_strategy": "no", "use_cpu": True, "per_device_train_batch_size": 2})
    torch.manual_seed(0)
    model = __import__("transformers").LlamaForCausalLM(hook.model_config(
        vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=32))
    hook.init_model(model)
    data = datasets.Dataset.from_dict({"input_ids": [[(i * 7 + j) % VOCAB for j in range(16)] for i in range(8)]})
    trainer = hook.train(args, model, data)
    assert trainer.state.global_step == 2
    assert {g["name"] for g in trainer.optimizer.param_groups} >= {"hidden", "embedding", "vector"}
