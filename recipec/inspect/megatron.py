"""Read back what megatron-core 0.19.2 gives each parameter, from the ``megatron_pretrain.py`` a user launches.

``observe`` follows Megatron-LM's own path as far as one CPU process allows (paths inside the installed
``megatron`` package):

1. ``megatron_pretrain.py`` is compiled from its text (a hand edit is what is observed); its ``RECIPEC_ARGS``,
   plus the CPU switches in ``CPU_ARGS`` (appended: argparse keeps the last value), are parsed by
   Megatron's ``parse_args`` and checked by ``validate_args`` (training/arguments.py:116, 388) with
   ``WORLD_SIZE=1`` — so tensor, pipeline, context and expert parallelism are inspected at 1, and an MoE
   model's token dispatcher is built as ``allgather`` (it holds no parameters; ``alltoall`` creates a CUDA
   stream in its constructor, core/transformer/moe/token_dispatcher.py:469).
2. torch.distributed is initialised with gloo (world size 1) and ``parallel_state.initialize_model_parallel(1, 1)``;
   the wrapper's ``install()`` patches megatron-core as it does before ``pretrain_gpt.py`` runs.
3. The model is built the way 0.19.2's ``pretrain_gpt.py`` builds it: ``gpt_config_from_args(args)``
   (training/argument_utils.py:433) and ``GPTModelBuilder(...).build_model(pg_collection)``
   (training/models/gpt.py:255), the local (non-TE) layer spec. The wrapper's ``GPTModel.__init__`` hook
   re-initialises its matrices and sets the readout multiplier. Full size: under ``torch.device('meta')``, as
   ``get_model`` does with ``--init-model-with-meta-device`` (training/training.py:1769), init not measured.
   ``shrink``: ``recipec.inspect.observed.shrunk``'s heads, head dim, FFN and vocabulary on CPU
   (``--use-cpu-initialization``) with the hidden size a multiple of the compiled width ratio's denominator
   and ``--mup-base-hidden-size`` scaled with it, so megatron-core's muP ``width_mult`` is the compiled one;
   the depth is cut to 2 *after* ``TransformerConfig.__post_init__``, so megatron-core's depth-scaled init
   (σ/√(2·L·m), transformer_config.py:2264-2270) is the full depth's. An MoE model keeps its number of
   experts and top-k; the expert (and shared-expert) width keeps its ratio to the hidden size.
4. The optimizer groups are the training loop's: ``get_megatron_optimizer_config(args)`` and, under
   ``--use-mup``, ``get_mup_config_overrides`` merged in (training/training.py:2117-2130, both as the wrapper
   patched them), ``_get_param_groups`` (core/optimizer/__init__.py:299) and the torch AdamW that
   ``_get_megatron_optimizer_based_on_param_groups`` builds (core/optimizer/__init__.py:450, 544-586, without the
   mixed-precision wrapper) — one for the dense groups and one for the expert-parallel groups (``allreduce=False``;
   none at expert parallel 1), as ``get_megatron_optimizer`` chains them (core/optimizer/__init__.py:1143-1216) —
   then the training loop's ``get_optimizer_param_scheduler`` (training.py:1906),
   whose first step writes each group's weight decay (``weight_decay × wd_mult``). The LR at the end of the
   schedule is the scheduler's ``get_lr`` at its last decay step.

A row per parameter; ``linear_qkv.weight`` (q, k and v rows in one tensor, one optimizer group) is three rows,
``…linear_qkv.weight[q]`` / ``[k]`` / ``[v]``, with the group's numbers and each part's measured init.
Global state is restored at the end: torch.distributed and megatron-core's parallel state destroyed, the
patches undone, Megatron's global args, ``sys.argv``, the environment and torch's RNG state put back.
``typing.override`` is added on Python < 3.12 (megatron-core's parser needs it) and left in place.

Over 300 lines on purpose: it follows Megatron-LM's own construction path (arguments, model, optimizer,
the wrapper's hook) step by step, each step beside the source lines it cites.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

from recipec.inspect.observed import FrameworkMissing, Observation, ParamRow, measured_std, shrunk

TARGET = "megatron"
PIP = ("pip install --no-deps --ignore-requires-python --no-binary megatron-core megatron-core==0.19.2 "
       "(with torch; see .ci/install-frameworks.sh)")
WRAPPER = "megatron_pretrain.py"
MODULE = "recipec_observed_megatron_pretrain"
# What lets megatron-core build in one CPU process without Transformer Engine, Apex or CUDA.
CPU_ARGS = ("--transformer-impl", "local", "--no-rope-fusion", "--use-cpu-initialization", "--no-persist-layer-norm",
            "--no-gradient-accumulation-fusion", "--tensor-model-parallel-size", "1",
            "--pipeline-model-parallel-size", "1", "--context-parallel-size", "1", "--expert-model-parallel-size", "1",
            "--moe-token-dispatcher-type", "allgather")
SHRUNK_DEPTH = 2
_SHIMS: list[str] = []  # what this process had to add for megatron-core to import


def _import_framework():
    import typing

    try:
        import typing_extensions

        if not hasattr(typing, "override"):  # megatron-core's parser imports 3.12's typing.override
            typing.override = typing_extensions.override
            _SHIMS.append("typing.override = typing_extensions.override (Python < 3.12; megatron-core needs it)")
        import torch
        import torch.distributed  # noqa: F401
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import megatron.core  # noqa: F401
            import megatron.training.arguments  # noqa: F401
            import megatron.training.training  # noqa: F401
    except ImportError as e:
        raise FrameworkMissing(TARGET, PIP) from e
    return torch


def _version() -> str:
    try:
        from megatron.core import package_info

        # __version__ appends `git rev-parse --short HEAD` of whatever checkout the package sits in
        return package_info.__shortversion__
    except Exception:  # noqa: BLE001 - a vendored checkout
        return "unknown"


def _load_wrapper(out_dir: Path):
    """``out_dir/megatron_pretrain.py`` as a fresh module, compiled from the file's text."""
    import importlib.util

    path = Path(out_dir) / WRAPPER
    spec = importlib.util.spec_from_file_location(MODULE, path)
    module = importlib.util.module_from_spec(spec)
    code = compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
    sys.modules[MODULE] = module
    exec(code, module.__dict__)
    return module


@contextlib.contextmanager
def _process_state(argv: list[str], env: dict[str, str]):
    """``sys.argv`` and environment variables set for the block, restored after it."""
    saved_argv, saved_env = sys.argv, {k: os.environ.get(k) for k in env}
    sys.argv = argv
    os.environ.update(env)
    try:
        yield
    finally:
        sys.argv = saved_argv
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


ENV = {"WORLD_SIZE": "1", "RANK": "0", "LOCAL_RANK": "0", "CUDA_DEVICE_MAX_CONNECTIONS": "1"}


def _parse(argv: list[str]):
    """Megatron's own parse_args + validate_args over ``argv``."""
    from megatron.training import arguments as margs

    with _process_state(["pretrain_gpt.py", *argv], ENV):
        args = margs.parse_args()
        margs.validate_args(args)
    return args


def _shape_of(args) -> dict[str, int]:
    shape = {"width": args.hidden_size, "depth": args.num_layers, "heads": args.num_attention_heads,
             "kv_heads": args.num_query_groups if args.group_query_attention else args.num_attention_heads,
             "head_dim": args.kv_channels, "ffn_hidden": args.ffn_hidden_size, "vocab_size": args.vocab_size}
    shape["num_experts"] = args.num_experts or 0
    if args.num_experts:
        shape |= {"top_k": args.moe_router_topk, "expert_ffn_hidden": args.moe_ffn_hidden_size,
                  "shared_experts": (args.moe_shared_expert_intermediate_size or 0) / args.moe_ffn_hidden_size}
    return shape


def _shrink_args(args) -> tuple[list[str], dict]:
    """The arguments that shrink the compiled model (see the module docstring), and the shape they give."""
    full = _shape_of(args)
    s = shrunk(full)
    width, base = args.hidden_size, args.mup_base_hidden_size if args.use_mup else args.hidden_size
    unit = width // math.gcd(width, base)  # hidden sizes whose ratio to an integer base is width / base
    hidden = min(width, unit * max(1, -(-s["width"] // unit)))
    small_base = hidden * base // width
    if hidden / small_base != width / base:
        raise RuntimeError(f"cannot shrink width {width} with base {base} keeping width_mult")
    out = ["--num-layers", str(args.num_layers), "--hidden-size", str(hidden), "--num-attention-heads", str(s["heads"]),
           "--kv-channels", str(s["head_dim"]), "--ffn-hidden-size", str(s["ffn_hidden"]),
           "--vocab-size", str(s["vocab_size"])]
    if args.use_mup:
        out += ["--mup-base-hidden-size", str(small_base)]
    if s["kv_heads"] != s["heads"]:
        out += ["--group-query-attention", "--num-query-groups", str(s["kv_heads"])]
    s = {**s, "width": hidden, "base": small_base}
    if args.num_experts:
        # the experts keep their count and top-k (the router's rows); their width keeps its ratio to the hidden size
        fe = max(8, round(args.moe_ffn_hidden_size * hidden / width))
        out += ["--moe-ffn-hidden-size", str(fe)]
        s["expert_ffn_hidden"] = fe
        if args.moe_shared_expert_intermediate_size:
            n = max(1, round(args.moe_shared_expert_intermediate_size / args.moe_ffn_hidden_size))
            out += ["--moe-shared-expert-intermediate-size", str(n * fe)]
            s["shared_ffn_hidden"] = n * fe
    return out, s


def observe(out_dir: Path, resolved: dict, *, shrink: bool) -> Observation:
    """One row per trainable parameter of the model ``out_dir/megatron_pretrain.py`` trains (see module doc)."""
    torch = _import_framework()
    import torch.distributed as dist
    from megatron.core import parallel_state
    from megatron.core.models.gpt.gpt_model import GPTModel
    from megatron.core.optimizer import (
        _get_megatron_optimizer_based_on_param_groups,
        _get_param_groups,
        check_config_overrides_consistency,
        get_standard_config_overrides,
    )
    from megatron.core.process_groups_config import ProcessGroupCollection
    from megatron.training import global_vars
    from megatron.training import training as mtraining
    from megatron.training.argument_utils import gpt_config_from_args
    from megatron.training.models.gpt import GPTModelBuilder

    from recipec.frameworks import megatron as names

    if dist.is_initialized():
        raise RuntimeError("recipec.inspect.megatron initialises torch.distributed itself: run it in a process "
                           "without a process group")
    notes: list[str] = []
    version = _version()
    if version != names.VERSION:
        notes.append(f"megatron-core {version} installed; recipec's megatron target is written for {names.VERSION}")
    previous = sys.modules.pop(MODULE, None)
    store = tempfile.mkdtemp(prefix="recipec-megatron-")
    saved_args, saved_rng = global_vars._GLOBAL_ARGS, torch.get_rng_state()
    mlog = logging.getLogger("megatron")
    saved_level = mlog.level
    # what the wrapper's install() patches, restored here whatever the (possibly hand-edited) wrapper does
    patched = [(mtraining, "get_megatron_optimizer_config"), (mtraining, "get_mup_config_overrides"),
               (GPTModel, "__init__")]
    saved_attrs = [(owner, attr, owner.__dict__[attr]) for owner, attr in patched]
    wrapper = None
    try:
        wrapper = _load_wrapper(out_dir)
        # megatron-core prints (padded vocab, argument dumps) and warns: none of it belongs on recipec's stdout
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            mlog.setLevel(logging.ERROR)
            recipe_args = list(wrapper.RECIPEC_ARGS)
            compiled = _parse(recipe_args + list(CPU_ARGS))
            full_shape = _shape_of(compiled)
            extra: list[str] = []
            if shrink:
                extra, small = _shrink_args(compiled)
                args = _parse(recipe_args + list(CPU_ARGS) + extra)
            else:
                args = compiled
            parallel = {"tensor": _flag(recipe_args, "--tensor-model-parallel-size"),
                        "pipeline": _flag(recipe_args, "--pipeline-model-parallel-size"),
                        "context": _flag(recipe_args, "--context-parallel-size"),
                        "expert": _flag(recipe_args, "--expert-model-parallel-size")}
            dispatcher = _last(recipe_args, "--moe-token-dispatcher-type") or "allgather"
            global_vars.set_args(args)
            with _process_state(sys.argv, ENV):
                dist.init_process_group("gloo", init_method=f"file://{store}/store", world_size=1, rank=0)
                parallel_state.initialize_model_parallel(1, 1)
            wrapper.install()
            cfg = gpt_config_from_args(args)
            if shrink:
                # after __post_init__: the depth-scaled output-layer init has seen the full depth
                cfg.transformer.num_layers = min(SHRUNK_DEPTH, args.num_layers)
            pgs = ProcessGroupCollection.use_mpu_process_groups()
            # what _set_random_seed does on pipeline rank 0 (training/initialize.py:436-439)
            torch.manual_seed(args.seed)
            if shrink:
                model = GPTModelBuilder(cfg).build_model(pgs)
            else:
                with torch.device("meta"):
                    model = GPTModelBuilder(cfg).build_model(pgs)
            if not isinstance(model, GPTModel):
                raise RuntimeError(f"megatron-core built a {type(model).__name__}, not a GPTModel")
            config, overrides = mtraining.get_megatron_optimizer_config(args)
            if getattr(args, "use_mup", False):
                mup = mtraining.get_mup_config_overrides(config=config, mup_width_mult=model.config.mup_width_mult,
                                                         optimizer_type=config.optimizer)
                if mup:
                    overrides = {**(overrides or {}), **mup}
            if overrides is None:
                overrides = get_standard_config_overrides(config)
            check_config_overrides_consistency(config, overrides)
            groups = _get_param_groups([model], config, overrides)
            # get_megatron_optimizer builds one optimizer of the dense groups and one of the expert-parallel
            # groups (core/optimizer/__init__.py:1143-1216) and chains them: the scheduler sees both
            optimizers = [_get_megatron_optimizer_based_on_param_groups(
                config, model_chunks=[model], param_groups=part, skip_megatron_wrapping=True)[0]
                for part in ([g for g in groups if not g["is_expert_parallel"]],
                             [g for g in groups if g["is_expert_parallel"]]) if part]
            optimizer = _Chained(optimizers)
            scheduler = mtraining.get_optimizer_param_scheduler(optimizer)
            rows, unknown = _rows(model, optimizer, scheduler, names, shrink=shrink)
            tcfg = model.config
            native = {
                "output_multiplier": float(tcfg.mup_output_mult) if tcfg.use_mup else 1.0,
                "embedding_multiplier": float(tcfg.mup_embedding_mult) if tcfg.use_mup else 1.0,
                "residual_multiplier": 1.0,
                "attn_logit_scale": float(model.decoder.layers[0].self_attention.core_attention.softmax_scale),
            }
            built = {"width": tcfg.hidden_size, "depth": len(model.decoder.layers), "heads": tcfg.num_attention_heads,
                     "kv_heads": tcfg.num_query_groups or tcfg.num_attention_heads, "head_dim": tcfg.kv_channels,
                     "ffn_hidden": tcfg.ffn_hidden_size, "vocab_size": model.vocab_size,
                     "tied_embeddings": int(model.share_embeddings_and_output_weights)}
            if tcfg.num_moe_experts:
                built |= {"num_experts": tcfg.num_moe_experts, "top_k": tcfg.moe_router_topk,
                          "expert_ffn_hidden": tcfg.moe_ffn_hidden_size,
                          "shared_ffn_hidden": tcfg.moe_shared_expert_intermediate_size or 0}
            expert_tensors = sum(len(g["params"]) for g in groups if g["is_expert_parallel"])
    finally:
        if wrapper is not None and callable(getattr(wrapper, "uninstall", None)):
            wrapper.uninstall()
        for owner, attr, value in saved_attrs:
            setattr(owner, attr, value)
        if parallel_state.model_parallel_is_initialized():
            parallel_state.destroy_model_parallel()
        if dist.is_initialized():
            dist.destroy_process_group()
        shutil.rmtree(store, ignore_errors=True)
        global_vars._GLOBAL_ARGS = saved_args
        torch.set_rng_state(saved_rng)
        mlog.setLevel(saved_level)
        sys.modules.pop(MODULE, None)
        if previous is not None:
            sys.modules[MODULE] = previous

    notes.append(f"megatron-core {version}: RECIPEC_ARGS + {' '.join(CPU_ARGS)} through parse_args/validate_args, "
                 "GPTModelBuilder with the local layer spec, in one gloo process on CPU")
    notes += _SHIMS
    expected = (resolved or {}).get("shape") or {}
    edited = [f"{k} {full_shape[k]} (resolved.json: {expected[k]})" for k in full_shape
              if k in expected and expected[k] != full_shape[k]]
    if edited:
        notes.append("megatron_pretrain.py's arguments give " + ", ".join(edited))
    multi = {k: v for k, v in parallel.items() if v not in (None, 1)}
    if multi:
        notes.append("the recipe's " + ", ".join(f"{k} parallel {v}" for k, v in multi.items())
                     + " is inspected at 1 (one process): a shard is a slice of these tensors with the same group")
    if built["vocab_size"] != (small["vocab_size"] if shrink else full_shape["vocab_size"]):
        notes.append(f"vocabulary padded by megatron-core to {built['vocab_size']} (--make-vocab-size-divisible-by)")
    if "num_experts" in built:
        notes.append(f"MoE: {built['num_experts']} experts, top-{built['top_k']}, built with the allgather token "
                     f"dispatcher (the recipe's {dispatcher} holds no parameters; alltoall creates a CUDA stream "
                     "when built, token_dispatcher.py:469); at expert parallel 1 megatron-core marks "
                     f"{expert_tensors} tensors expert-parallel (allreduce = not (is_expert and (EP > 1 or "
                     "ETP != TP)), tensor_parallel/layers.py:948-1017); at the recipe's they go to a second "
                     "optimizer built from the same config_overrides (core/optimizer/__init__.py:1180-1216), "
                     "read here the same way")
    notes.append("linear_qkv.weight holds q, k and v rows (one tensor, one optimizer group): reported as "
                 "[q], [k], [v] rows with the group's numbers and each part's own init")
    if shrink:
        moe = (f", experts of {small['expert_ffn_hidden']}" + (f" (shared {small['shared_ffn_hidden']})"
                                                                if small.get("shared_ffn_hidden") else "")
               if "expert_ffn_hidden" in small else "")
        notes.append(f"shrunk on CPU: width {small['width']}, depth {built['depth']}, heads {small['heads']}/"
                     f"{small['kv_heads']}, head_dim {small['head_dim']}, ffn {small['ffn_hidden']}{moe}, vocab "
                     f"{small['vocab_size']}, --mup-base-hidden-size {small['base']} (width_mult "
                     f"{args.hidden_size / small['base']:g}, as compiled: {full_shape['width']}/"
                     f"{compiled.mup_base_hidden_size}); depth cut after TransformerConfig.__post_init__ so the "
                     f"depth-scaled init is depth {full_shape['depth']}'s; torch seed {args.seed}, caller's RNG "
                     "state kept")
    else:
        notes.append("compiled shape on the meta device: init not measured")
    if unknown:
        notes.append(f"parameters recipec has no kind for ({len(unknown)}): {', '.join(unknown[:5])}"
                     + (" …" if len(unknown) > 5 else ""))
    return Observation(target=TARGET, rows=tuple(rows), native=native, shape=built, notes=tuple(notes), shrunk=shrink)


class _Chained:
    """What the scheduler reads of megatron-core's ChainedOptimizer: the param groups of all its optimizers
    (core/optimizer/optimizer.py:1461-1466)."""

    def __init__(self, optimizers):
        self.optimizers = optimizers

    @property
    def param_groups(self) -> list[dict]:
        return [g for o in self.optimizers for g in o.param_groups]


def _last(argv: list[str], flag: str) -> str | None:
    """The last value of ``flag`` in an argument list (as argparse keeps it)."""
    idx = [i for i, a in enumerate(argv) if a == flag]
    return argv[idx[-1] + 1] if idx and idx[-1] + 1 < len(argv) else None


def _flag(argv: list[str], flag: str) -> int | None:
    value = _last(argv, flag)
    return None if value is None else int(value)


def _rows(model, optimizer, scheduler, names, *, shrink: bool):
    import torch

    group_of = {id(p): g for g in optimizer.param_groups for p in g["params"]}
    end = scheduler.lr_decay_steps
    saved_steps = scheduler.num_steps
    cfg = model.config
    rows: list[ParamRow] = []
    unknown: list[str] = []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        g = group_of[id(p)]
        scheduler.num_steps = end
        min_lr = float(scheduler.get_lr(g))
        scheduler.num_steps = saved_steps
        try:
            kind = names.kind_of(name, tied=bool(getattr(p, "shared_embedding", False)))
        except ValueError:
            unknown.append(name)
            kind = "unknown"
        multiplier = 1.0
        if cfg.use_mup and kind == "output":
            multiplier = float(cfg.mup_output_mult)  # LanguageModule._scale_logits, language_module.py:320-337
        elif cfg.use_mup and kind == "embedding":
            multiplier = float(cfg.mup_embedding_mult)  # language_model_embedding.py:131-132
        common = {"lr": float(g["max_lr"]), "weight_decay": float(g["weight_decay"]), "eps": float(g["eps"]),
                  "betas": tuple(float(b) for b in g["betas"]), "multiplier": multiplier, "min_lr": min_lr}
        if kind == names.QKV_FUSED[0]:
            runs = names.qkv_row_runs(cfg.num_attention_heads, cfg.num_query_groups or cfg.num_attention_heads,
                                      cfg.kv_channels)
            if runs[-1][2] != p.shape[0]:
                raise RuntimeError(f"{name} has {p.shape[0]} rows, not the {runs[-1][2]} of q, k and v")
            for part in names.QKV_FUSED:
                idx = [i for k, a, b in runs if k == part for i in range(a, b)]
                std = numel = None
                if shrink:
                    std, numel = measured_std(p.detach()[torch.tensor(idx)])
                rows.append(ParamRow(name=f"{name}[{part}]", kind=part, shape=(len(idx), *p.shape[1:]),
                                     init_std=std, init_numel=numel or 0, **common))
            continue
        std = numel = None
        if shrink:
            std, numel = measured_std(p)
        rows.append(ParamRow(name=name, kind=kind, shape=tuple(p.shape), init_std=std, init_numel=numel or 0, **common))
    return rows, unknown
