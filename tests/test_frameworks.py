"""Each framework's own parser accepts the rendered configs and reads back every group's LR and WD.

Needs the framework extras (.ci/install-frameworks.sh): torchtitan 0.3, transformers 5 + accelerate,
megatron-core's source distribution. Run with ``pytest -m frameworks``.
"""

from __future__ import annotations

import importlib
import math
import os
import re
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


# torchtitan 0.3 Llama3 parameter names -> recipec kinds (written out here, independently of recipec.frameworks)
_TORCHTITAN_KINDS = (
    ("attention.qkv_linear.wqkv.weight", "q"),  # fused: holds q, k and v (they resolve alike when fused)
    ("attention.qkv_linear.wq.weight", "q"), ("attention.qkv_linear.wk.weight", "k"),
    ("attention.qkv_linear.wv.weight", "v"), ("attention.wo.weight", "o"),
    ("feed_forward.w1.weight", "mlp_in"), ("feed_forward.w3.weight", "mlp_in"), ("feed_forward.w2.weight", "mlp_out"),
    ("attention_norm.weight", "norm"), ("ffn_norm.weight", "norm"),
    ("attention.q_norm.weight", "qk_norm"), ("attention.k_norm.weight", "qk_norm"),
    ("tok_embeddings.weight", "embedding"), ("lm_head.weight", "output"),
)


def _torchtitan_kind(name):
    if name == "norm.weight":
        return "final_norm"
    return next(kind for suffix, kind in _TORCHTITAN_KINDS if name.endswith("." + suffix) or name == suffix)


def _torchtitan_expected(r, kind):
    """A kind's numbers (``kind_coupled``) with its forward multiplier folded into the weight where torchtitan
    lowers it: residual into wo and w2, output into an untied lm_head, embedding into untied tok_embeddings."""
    from recipec.kinds import MULTIPLIER_OF

    c = r.kind_coupled(kind)
    mult = MULTIPLIER_OF.get(kind)
    scale = 1.0 if mult is None or (kind == "embedding" and r.shape.tied_embeddings) else \
        getattr(r.multipliers, mult).value
    return {"lr": c.lr * scale, "weight_decay": c.weight_decay / scale, "eps": c.eps / scale}


def _torchtitan_class(r, name):
    return _torchtitan_expected(r, _torchtitan_kind(name))


@pytest.mark.slow
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
            for n in g["param_names"]:  # kinds with the same numbers share a group: each must be right
                assert_group(g, _torchtitan_class(r, n), f"torchtitan {n}")
            seen += len(g["params"])
    assert seen == len(list(model.parameters()))
    peak = sched.schedulers[0].lr_lambdas[0](r.schedule.warmup_steps)
    assert close(peak, 1.0)


# --------------------------------------------------------------------------- transformers


# transformers LlamaForCausalLM parameter names -> recipec kinds, written out here independently of recipec
_HF_KINDS = (
    ("self_attn.q_proj.weight", "q"), ("self_attn.k_proj.weight", "k"), ("self_attn.v_proj.weight", "v"),
    ("self_attn.o_proj.weight", "o"), ("mlp.gate_proj.weight", "mlp_in"), ("mlp.up_proj.weight", "mlp_in"),
    ("mlp.down_proj.weight", "mlp_out"), ("input_layernorm.weight", "norm"),
    ("post_attention_layernorm.weight", "norm"),
    ("embed_tokens.weight", "embedding"), ("lm_head.weight", "output"),
)


def _hf_class(r, name):
    """The numbers the hook must give a LlamaForCausalLM parameter: its kind's, multipliers lowered (untied)."""
    if name == "model.norm.weight":
        kind = "final_norm"
    elif name.endswith(".bias"):
        kind = "bias"
    else:
        kind = next(k for suffix, k in _HF_KINDS if name.endswith(suffix))
    return _torchtitan_expected(r, kind)  # the same lowering: residual into o/down, output and embedding untied


@pytest.mark.slow
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


# megatron-core 0.19.2 GPTModel parameter names (local and TE layer specs) -> recipec kinds, written out here
# independently of recipec.frameworks.megatron. linear_qkv holds q, k and v in one tensor: kind q's numbers.
MEGATRON_NAMES = {
    "embedding.word_embeddings.weight": ((VOCAB, 64), "embedding"),
    "decoder.layers.0.self_attention.linear_qkv.weight": ((96, 64), "q"),
    "decoder.layers.0.self_attention.linear_proj.weight": ((64, 64), "o"),
    "decoder.layers.0.mlp.linear_fc1.weight": ((192, 64), "mlp_in"),
    "decoder.layers.0.mlp.linear_fc2.weight": ((64, 96), "mlp_out"),
    "decoder.layers.0.input_layernorm.weight": ((64,), "norm"),
    "decoder.layers.0.pre_mlp_layernorm.weight": ((64,), "norm"),
    "decoder.layers.0.self_attention.linear_qkv.layer_norm_weight": ((64,), "norm"),
    "decoder.layers.0.self_attention.q_layernorm.weight": ((32,), "qk_norm"),
    "decoder.layers.0.self_attention.k_layernorm.weight": ((32,), "qk_norm"),
    "decoder.layers.0.mlp.linear_fc1.layer_norm_weight": ((64,), "norm"),
    "decoder.layers.0.self_attention.linear_proj.bias": ((64,), "bias"),
    "decoder.final_layernorm.weight": ((64,), "final_norm"),
    "output_layer.weight": ((VOCAB, 64), "output"),
}


def megatron_expected(r, kind):
    """A kind's numbers with the residual multiplier folded into the branch outputs (linear_proj, linear_fc2);
    Megatron's muP applies the output and embedding multipliers itself."""
    c = r.kind_coupled(kind)
    scale = r.multipliers.residual_multiplier.value if kind in ("o", "mlp_out") else 1.0
    return {"lr": c.lr * scale, "weight_decay": c.weight_decay / scale, "eps": c.eps / scale,
            "init_std": None if c.init_std is None else c.init_std * scale}


@pytest.fixture(scope="module", params=MEGATRON_CASES, ids=[f"{e}-{s}" for e, s in MEGATRON_CASES])
def megatron_case(request, tmp_path_factory):
    example, size = request.param
    out = tmp_path_factory.mktemp(f"megatron-{example}-{size}")
    for f in render_case(example, size, "torchrun", targets=("megatron",)).files:
        (out / f.path).write_text(f.text, encoding="utf-8")
    return example, size, out, _resolved(example, size)


@pytest.mark.slow
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
    # megatron-core's own muP (LR and eps ÷ width_mult, init std ÷ sqrt(width_mult)) lands on kind q
    q = r.kind_coupled("q")
    assert close(args.lr / width_mult, q.lr)
    assert close(args.adam_eps / width_mult, q.eps)
    assert close(args.init_method_std / math.sqrt(width_mult), q.init_std)
    assert close(args.embedding_init_method_std, r.kind_coupled("embedding").init_std)
    assert close(args.mup_base_head_dim ** 0.5 / args.kv_channels ** args.mup_attn_scale_power,
                 r.multipliers.attn_logit_scale.value)
    assert close(wrapper.OUTPUT_MULTIPLIER, r.multipliers.output_multiplier.value)
    min_ratio = 1.0 if r.schedule.decay == "constant" else r.schedule.min_lr_ratio
    overrides = wrapper.recipec_config_overrides()
    for name, (shape, kind) in MEGATRON_NAMES.items():
        if kind == "output" and r.shape.tied_embeddings:
            continue
        param = torch.nn.Parameter(torch.zeros(shape))
        matched = [o for key, o in overrides.items() if key.matches(param, name)]
        assert len(matched) == 1, name
        o = matched[0]
        want = megatron_expected(r, kind)
        assert close(o["max_lr"], want["lr"]), name
        assert close(o["min_lr"], want["lr"] * min_ratio), name
        assert (close(args.weight_decay * o["wd_mult"], want["weight_decay"])
                or want["weight_decay"] == 0 == o["wd_mult"])
        assert close(o["eps"], want["eps"]), name
    for kind in ("q", "k", "v", "o", "mlp_in", "mlp_out") + (() if r.shape.tied_embeddings else ("output",)):
        assert close(wrapper.INIT_STD[kind], megatron_expected(r, kind)["init_std"]), kind
    # no float the wrapper writes carries a rounding tail (0.0006000000000000001, 0.020000000000000004)
    numbers = [w for w in wrapper.RECIPEC_ARGS if re.fullmatch(r"[-+0-9.e]+", w)]
    numbers += [repr(v) for o in wrapper.GROUP_OVERRIDES.values() for v in o.values()]
    numbers += [repr(v) for v in wrapper.INIT_STD.values()]
    tails = [n for n in numbers if re.search(r"\.\d*(0{6,}|9{6,})\d+$", n.split("e")[0])]
    assert not tails, tails


@pytest.mark.slow
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
    assert {g["cls"] for g in trainer.optimizer.param_groups} >= {"hidden", "embedding", "vector"}  # groups per kind
