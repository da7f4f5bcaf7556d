"""Read back what torchtitan 0.3 gives each parameter, from the ``recipec_torchtitan.py`` a user launches.

``observe`` follows the trainer's own path (torchtitan/trainer.py, 0.3.0): the config module is parsed
by ``ConfigManager().parse_args(['--module', 'recipec_torchtitan', '--config', 'recipec_config'])``,
the model config gets ``update_from_config(config=…)`` (trainer.py:347) and is built under
``torch.device('meta')`` and the training dtype (trainer.py:363-366); with ``shrink`` it is then
``to_empty``-ed onto the CPU and initialised by ``init_weights`` under ``no_grad`` (trainer.py:501-505),
which runs every module's ``param_init``. The optimizer container and the LR scheduler container are
the config's own (``cfg.optimizer.build(model_parts=[model])``, trainer.py:549;
``cfg.lr_scheduler.build(…)``, trainer.py:554-557), and each row reads its group's ``initial_lr`` (the
base LR the scheduler scales), ``weight_decay``, ``eps`` and ``betas``.

A mixture-of-experts module builds torchtitan's ``Qwen3Model`` (recipec.render.torchtitan): the same path,
with the routed experts' 3-D ``w1_EFD`` / ``w2_EDF`` / ``w3_EFD`` (one row each, all experts of a layer),
the router gate and the shared experts read back like every other parameter; its init functions are the
GroupedExperts' own ``param_init`` entries (by parameter name). The shrunk model keeps the expert count
(at most 8), top-k and each expert's and the shared experts' ratio to width.

The module is compiled from its source text on every call (no ``__pycache__``), so a hand edit is what
is observed. torch and torchtitan are imported only here.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import math
import sys
from pathlib import Path

from recipec.inspect.observed import FrameworkMissing, Observation, ParamRow, measured_std, shrunk

TARGET = "torchtitan"
PIP = "pip install torch==2.13.0 && pip install torchtitan==0.3.0"
MODULE = "recipec_torchtitan"
FUNCTION = "recipec_config"
SEED = 0


def _import_framework():
    try:
        import torch
        import torchtitan  # noqa: F401
        from torchtitan.config import ConfigManager  # noqa: F401
    except ImportError as e:  # torch missing, torchtitan missing, or a broken torchtitan install
        raise FrameworkMissing(TARGET, PIP) from e
    return torch


def _load_module(out_dir: Path):
    """``out_dir/recipec_torchtitan.py`` as a fresh module under its own name, compiled from the file's text."""
    path = Path(out_dir) / f"{MODULE}.py"
    spec = importlib.util.spec_from_file_location(MODULE, path)
    module = importlib.util.module_from_spec(spec)
    code = compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
    sys.modules[MODULE] = module
    try:
        exec(code, module.__dict__)
    except BaseException:
        sys.modules.pop(MODULE, None)
        raise
    return module


def _version() -> str:
    try:
        import importlib.metadata as md

        return md.version("torchtitan")
    except Exception:  # noqa: BLE001 - an editable or vendored install
        return "unknown"


def _init_fns(model) -> dict[int, object]:
    """id(param) → the init function torchtitan's ``init_states`` applies to it last.

    Mirrors Module.init_states (protocols/module.py:72-97): children first, in order (plain nn.Module
    wrappers are looked through), then the module's own parameters by ``_param_init`` name; a
    ``skip_param_init`` entry leaves the parameter to whoever shares it (tied embeddings).
    """
    from torchtitan.models.common.param_init import skip_param_init
    from torchtitan.protocols.module import Module

    out: dict[int, object] = {}

    def visit(mod):
        queue = list(mod.children())
        while queue:
            child = queue.pop(0)
            if isinstance(child, Module):
                visit(child)
            else:
                queue.extend(child.children())
        table = getattr(mod, "_param_init", None)
        for name, p in mod.named_parameters(recurse=False):
            fn = table.get(name) if table is not None else getattr(mod, "reset_parameters", None)
            if fn is not None and fn is not skip_param_init:
                out[id(p)] = fn

    visit(model)
    return out


def _truncation(fn) -> float | None:
    """The bound of a ``trunc_normal_`` init in units of its std (``a=-3σ, b=3σ`` → 3.0); ``None`` for an
    untruncated init. Looks through ``functools.partial`` and closures (the fused wqkv's per-slice init,
    config_utils.py:135-177, wraps the base init)."""
    import torch.nn as nn

    sig = inspect.signature(nn.init.trunc_normal_)
    stack, seen = [fn], set()
    while stack:
        f = stack.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        if isinstance(f, functools.partial):
            if f.func is nn.init.trunc_normal_:
                b = sig.bind_partial(None, *f.args, **f.keywords)
                b.apply_defaults()
                mean, std, lo, hi = (float(b.arguments[k]) for k in ("mean", "std", "a", "b"))
                if std > 0 and math.isclose(mean - lo, hi - mean, rel_tol=1e-9):
                    return (hi - mean) / std
                return None
            stack.append(f.func)
            continue
        for cell in getattr(f, "__closure__", None) or ():
            try:
                v = cell.cell_contents
            except ValueError:
                continue
            if callable(v):
                stack.append(v)
    return None


def _shape_of(model_cfg) -> dict[str, int]:
    layer = model_cfg.layers[0]
    att = layer.attention
    head_dim = att.head_dim if att.head_dim is not None else model_cfg.dim // att.n_heads
    out = {"width": model_cfg.dim, "depth": len(model_cfg.layers), "heads": att.n_heads,
           "kv_heads": att.n_kv_heads or att.n_heads, "head_dim": head_dim}
    moe = getattr(layer, "moe", None)
    if moe is None:
        out["ffn_hidden"] = layer.feed_forward.w1.out_features
    else:
        out.update(num_experts=moe.num_experts, top_k=moe.router.top_k,
                   expert_ffn_hidden=moe.routed_experts.inner_experts.hidden_dim,
                   shared_ffn_hidden=moe.shared_experts.w1.out_features if moe.shared_experts is not None else 0)
    return {**out, "vocab_size": model_cfg.vocab_size, "tied_embeddings": int(bool(model_cfg.enable_weight_tying))}


def _shrink_kwargs(full: dict[str, int]) -> dict[str, int]:
    """``recipec_model`` keywords for ``recipec.inspect.observed.shrunk`` of the module's own compiled shape
    (MoE: the expert widths keep their ratio to width, at most 8 experts, top-k kept where it fits)."""
    moe = "num_experts" in full
    s = shrunk({**full, "ffn_hidden": full["expert_ffn_hidden"]} if moe else full)
    out = {"dim": s["width"], "n_layers": s["depth"], "n_heads": s["heads"], "n_kv_heads": s["kv_heads"],
           "head_dim": s["head_dim"]}
    if not moe:
        return {**out, "ffn_hidden": s["ffn_hidden"], "vocab_size": s["vocab_size"]}
    experts = min(full["num_experts"], 8)
    shared = full["shared_ffn_hidden"]
    return {**out, "vocab_size": s["vocab_size"], "num_experts": experts, "top_k": min(full["top_k"], experts),
            "expert_ffn_hidden": s["ffn_hidden"],
            "shared_ffn_hidden": max(8, round(shared * s["width"] / full["width"])) if shared else 0}


def observe(out_dir: Path, resolved: dict, *, shrink: bool) -> Observation:
    """One row per trainable parameter of the model ``out_dir/recipec_torchtitan.py`` builds (see module doc)."""
    import logging

    root = logging.getLogger()  # torchtitan logs its config warnings on the root logger: keep inspect's output clean
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        return _observe(out_dir, resolved, shrink=shrink)
    finally:
        root.setLevel(level)


def _observe(out_dir: Path, resolved: dict, *, shrink: bool) -> Observation:
    torch = _import_framework()
    from torchtitan.config import TORCH_DTYPE_MAP, ConfigManager
    from torchtitan.tools import utils as tt_utils

    from recipec.frameworks import torchtitan as names

    notes: list[str] = []
    version = _version()
    if not version.startswith("0.3."):
        notes.append(f"torchtitan {version} installed; recipec's torchtitan target is written for {names.VERSION}")
    previous = sys.modules.pop(MODULE, None)
    try:
        module = _load_module(out_dir)
        size = getattr(module, "SIZE", None)
        if resolved and size is not None and size != resolved.get("size"):
            notes.append(f"{MODULE}.py is for size {size!r}, resolved.json for {resolved.get('size')!r}")
        cfg = ConfigManager().parse_args(["--module", MODULE, "--config", FUNCTION])
        full_cfg = cfg.model_spec.model
        full_shape = _shape_of(full_cfg)
        # The softmax scale GQAttention passes (attention.py:976): head_dim**-0.5, or the inner attention's
        # default 1/sqrt(q.size(-1)) when head_dim is not given — the same number.
        attn_scale = full_shape["head_dim"] ** -0.5
        if shrink:
            kwargs = _shrink_kwargs(full_shape)
            model_cfg = module.recipec_model(**kwargs)
        else:
            model_cfg = full_cfg
        tp = cfg.parallelism.tensor_parallel_degree
        if shrink and tp > 1 and (kwargs["n_heads"] % tp or kwargs["n_kv_heads"] % tp):
            # update_from_config checks the heads divide by the TP degree (decoder.py:144-158): the compiled
            # model was checked by the meta build; the shrunk one is checked as one process (TP 1).
            cfg.parallelism.tensor_parallel_degree = 1
            try:
                model_cfg.update_from_config(config=cfg)
            finally:
                cfg.parallelism.tensor_parallel_degree = tp
            notes.append(f"shrunk: update_from_config ran with tensor_parallel_degree 1 (compiled: {tp}), which "
                         f"does not divide the shrunk model's {kwargs['n_kv_heads']} kv heads")
        else:
            model_cfg.update_from_config(config=cfg)
        with torch.device("meta"), tt_utils.set_default_dtype(TORCH_DTYPE_MAP[cfg.training.dtype]):
            model = model_cfg.build()
        model.verify_module_protocol()
        if shrink:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(SEED)
                model.to_empty(device="cpu")
                with torch.no_grad():
                    model.init_weights(buffer_device=None)
        optimizers = cfg.optimizer.build(model_parts=[model])
        if cfg.model_spec.post_optimizer_build_fn is not None:
            notes.append("model_spec.post_optimizer_build_fn is set but not run (it needs the parallel dims)")
        cfg.lr_scheduler.build(optimizers=optimizers, training_steps=cfg.training.steps)
        built_shape = _shape_of(model_cfg)
    finally:
        sys.modules.pop(MODULE, None)
        if previous is not None:
            sys.modules[MODULE] = previous

    group_of: dict[int, dict] = {}
    for opt in optimizers.optimizers:
        for g in opt.param_groups:
            for p in g["params"]:
                group_of[id(p)] = g
    inits = _init_fns(model) if shrink else {}
    rows: list[ParamRow] = []
    unknown: list[str] = []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        g = group_of[id(p)]  # OptimizersContainer fails on an unclaimed parameter (optimizer.py:268-280)
        kind = names.kind_of(name)
        if kind is None:
            unknown.append(name)
            continue
        std = numel = trunc = None
        if shrink:
            std, numel = measured_std(p)
            fn = inits.get(id(p))
            trunc = _truncation(fn) if fn is not None else None
        rows.append(ParamRow(
            name=name, kind=kind, shape=tuple(p.shape), lr=float(g.get("initial_lr", g["lr"])),
            weight_decay=float(g["weight_decay"]), eps=float(g["eps"]), betas=tuple(float(b) for b in g["betas"]),
            init_std=std, init_numel=numel or 0, init_truncation=trunc, multiplier=1.0,
            fused=names.fused_with(name)))

    if any(r.name.endswith("qkv_linear.wqkv.weight") for r in rows):
        notes.append("fused qkv_linear.wqkv (q, k and v in one matrix) is reported as kind q, fused with k and v")
    if unknown:
        from recipec.diagnostics import Diagnostic, Location, RecipecError

        more = " …" if len(unknown) > 5 else ""
        raise RecipecError(Diagnostic(
            f"{len(unknown)} parameters of the model {MODULE}.py builds are not torchtitan Llama3's or Qwen3-MoE's, "
            f"so their kind "
            f"is unknown: {', '.join(unknown[:5])}{more}", location=Location(str(Path(out_dir) / f"{MODULE}.py")),
            hint="recompile with `recipec compile --target torchtitan`, or keep hand edits to the numbers"))
    if shrink:
        notes.append("shrunk: recipec_model(" + ", ".join(f"{k}={v}" for k, v in kwargs.items())
                     + f") on CPU, initialised by init_weights() (torch seed {SEED}, caller's RNG state kept); "
                       f"built from the compiled {full_shape['width']}×{full_shape['depth']} module")
    else:
        notes.append("compiled shape on the meta device: init not measured")
    notes.append("no CPU shims needed (the training loop's torch.distributed.set_timeout is never reached)")
    return Observation(target=TARGET, rows=tuple(rows),
                       native={"output_multiplier": 1.0, "embedding_multiplier": 1.0, "residual_multiplier": 1.0,
                               "attn_logit_scale": attn_scale},
                       shape=built_shape, notes=tuple(notes), shrunk=shrink)
