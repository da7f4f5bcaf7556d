"""Inspect the Hugging Face target: ``LlamaForCausalLM`` from hf_train.py's ``model_config()``, the
optimizer from its ``RecipecTrainer`` (the hook a user launches), every parameter's group read back.

Kinds come from ``recipec.frameworks.hf`` (the documented LlamaForCausalLM names), not from the
hook's own classifier, so a misclassification in the hook is a difference. Full size: the model on
the meta device and ``hf_train.build_optimizer`` (what ``RecipecTrainer.create_optimizer`` calls; the
Trainer itself cannot hold a meta model). ``shrink``: a small model on CPU, initialised as
``hf_train.main`` does (transformers' own init, then ``init_model``), and the real
``RecipecTrainer.create_optimizer_and_scheduler``; the scheduler's per-group base LR is read.
CPU switch: ``use_cpu: true`` is added to the Trainer arguments (bf16 does not validate without a GPU).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from recipec.inspect.observed import FrameworkMissing, Observation, ParamRow, import_file, measured_std, shrunk

PIP = "pip install 'transformers>=5,<6' 'accelerate>=1.1.0' (after torch)"


def observe(out_dir: Path, resolved: dict, *, shrink: bool) -> Observation:
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError:
        raise FrameworkMissing("hf", PIP) from None
    from recipec.frameworks.hf import kind_of

    hook = import_file(Path(out_dir) / "hf_train.py", "_recipec_inspect_hf_train")
    notes = []
    if shrink:
        s = shrunk(resolved["shape"])
        cfg = hook.model_config(hidden_size=s["width"], num_hidden_layers=s["depth"], num_attention_heads=s["heads"],
                                num_key_value_heads=s["kv_heads"], head_dim=s["head_dim"],
                                intermediate_size=s["ffn_hidden"], vocab_size=s["vocab_size"])
        torch.manual_seed(0)
        model = transformers.LlamaForCausalLM(cfg)
        hook.init_model(model)
        args = _training_arguments(out_dir)
        notes.append("CPU switch: use_cpu: true added to hf_training_args.yaml for the check (bf16 needs a GPU)")
        with tempfile.TemporaryDirectory() as tmp:
            cwd = os.getcwd()
            os.chdir(tmp)
            try:
                trainer = hook.RecipecTrainer(model=model, args=args)
                trainer.create_optimizer_and_scheduler(num_training_steps=max(args.max_steps, 1))
            finally:
                os.chdir(cwd)
        optimizer = trainer.optimizer
        shape = s
    else:
        cfg = hook.model_config()
        with torch.device("meta"):
            model = transformers.LlamaForCausalLM(cfg)
        optimizer = hook.build_optimizer(model)
        notes.append("full size on the meta device: hf_train.build_optimizer (what RecipecTrainer.create_optimizer "
                     "calls); init not measured (use --shrink)")
        rs = resolved["shape"]
        shape = {k: rs[k] for k in ("width", "depth", "heads", "kv_heads", "head_dim", "ffn_hidden", "vocab_size")}
    group_of = {id(p): g for g in optimizer.param_groups for p in g["params"]}
    rows = []
    for name, p in model.named_parameters():
        kind = kind_of(name)
        if kind is None:
            raise RuntimeError(f"recipec inspect: LlamaForCausalLM parameter {name!r} is not in the documented table "
                               "(recipec.frameworks.hf): transformers changed?")
        g = group_of.get(id(p))
        if g is None:
            raise RuntimeError(f"recipec inspect: the optimizer holds no group for {name!r}")
        std, n = (None, 0)
        if shrink and p.ndim == 2:
            std, n = measured_std(p)
        rows.append(ParamRow(name=name, kind=kind, shape=tuple(p.shape), lr=float(g.get("initial_lr", g["lr"])),
                             weight_decay=float(g["weight_decay"]), eps=float(g["eps"]),
                             betas=tuple(float(b) for b in g["betas"]), init_std=std, init_numel=n))
    attn = model.model.layers[0].self_attn
    native = {"output_multiplier": 1.0, "embedding_multiplier": 1.0, "residual_multiplier": 1.0,
              "attn_logit_scale": float(attn.scaling)}
    return Observation(target="hf", rows=tuple(rows), native=native, shape=shape, notes=tuple(notes), shrunk=shrink)


def _training_arguments(out_dir: Path):
    import yaml
    from transformers import HfArgumentParser, TrainingArguments

    data = yaml.safe_load((Path(out_dir) / "hf_training_args.yaml").read_text(encoding="utf-8")) or {}
    data["use_cpu"] = True
    (args,) = HfArgumentParser(TrainingArguments).parse_dict(data, allow_extra_keys=False)
    return args
