"""Inspect the Hugging Face target: hf_train.py's ``MODEL_CLASS`` (``LlamaForCausalLM``, or
``Qwen3MoeForCausalLM`` for a mixture of experts) from its ``model_config()``, the optimizer from its
``RecipecTrainer`` (the hook a user launches), every parameter's group read back — with the class of
the optimizer that holds it (torch.optim.Muon or AdamW, read from the optimizer objects) and Muon's
momentum / nesterov / ns_steps / adjust_lr_fn or AdamW's betas.

Kinds come from ``recipec.frameworks.hf`` (the documented LlamaForCausalLM / Qwen3-MoE names), not
from the hook's own classifier, so a misclassification in the hook is a difference. Full size: the model on
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

from recipec.inspect.observed import (
    FrameworkMissing,
    Observation,
    ParamRow,
    group_fields,
    groups_by_param,
    import_file,
    measured_std,
    shrunk,
)

PIP = "pip install 'transformers>=5,<6' 'accelerate>=1.1.0' (after torch)"


def observe(out_dir: Path, resolved: dict, *, shrink: bool) -> Observation:
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError:
        raise FrameworkMissing("hf", PIP) from None
    from recipec.frameworks.hf import MODEL_CLASSES, kind_of

    hook = import_file(Path(out_dir) / "hf_train.py", "_recipec_inspect_hf_train")
    model_class = getattr(hook, "MODEL_CLASS", None)
    if model_class not in MODEL_CLASSES:
        raise RuntimeError(f"recipec inspect: hf_train.py's MODEL_CLASS {model_class!r} is not one of "
                           f"{', '.join(MODEL_CLASSES)} (recipec.frameworks.hf)")
    build = getattr(transformers, model_class)
    notes = []
    if shrink:
        s = shrunk(resolved["shape"])
        changes = dict(hidden_size=s["width"], num_hidden_layers=s["depth"], num_attention_heads=s["heads"],
                       num_key_value_heads=s["kv_heads"], head_dim=s["head_dim"], intermediate_size=s["ffn_hidden"],
                       vocab_size=s["vocab_size"])
        if s.get("num_experts"):
            changes.update(num_experts=s["num_experts"], num_experts_per_tok=s["top_k"],
                           moe_intermediate_size=s["expert_ffn_hidden"])
        cfg = hook.model_config(**changes)
        torch.manual_seed(0)
        model = build(cfg)
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
            model = build(cfg)
        optimizer = hook.build_optimizer(model)
        notes.append("full size on the meta device: hf_train.build_optimizer (what RecipecTrainer.create_optimizer "
                     "calls); init not measured (use --shrink)")
        rs = resolved["shape"]
        shape = {k: rs[k] for k in ("width", "depth", "heads", "kv_heads", "head_dim", "ffn_hidden", "vocab_size")}
        if rs.get("num_experts"):
            shape.update({k: rs[k] for k in ("num_experts", "top_k", "expert_ffn_hidden", "shared_experts")})
    group_of = groups_by_param(optimizer)
    rows = []
    for name, p in model.named_parameters():
        kind = kind_of(name)
        if kind is None:
            raise RuntimeError(f"recipec inspect: {model_class} parameter {name!r} is not in the documented table "
                               "(recipec.frameworks.hf): transformers changed?")
        held = group_of.get(id(p))
        if held is None:
            raise RuntimeError(f"recipec inspect: the optimizer holds no group for {name!r}")
        std, n = (None, 0)
        if shrink and p.ndim >= 2:
            std, n = measured_std(p)
        rows.append(ParamRow(name=name, kind=kind, shape=tuple(p.shape), init_std=std, init_numel=n,
                             **group_fields(*held)))
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
