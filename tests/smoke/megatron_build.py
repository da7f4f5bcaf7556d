"""Build Megatron-LM's model, optimizer groups and LR scheduler from a compile output's generated argv.

Run by tests/test_smoke_train.py in its own process: ``python megatron_build.py OUT_DIR ARG...`` where
ARG... are the arguments the generated launch script gives megatron_pretrain.py. Prints one JSON object:
every parameter's group (max_lr, min_lr, weight decay and eps after the scheduler's warmup) and the
model's parameter count.

Megatron cannot train on a CPU (its rotary embedding and fused kernels call into CUDA), so this stops
before the first step. CPU switches added to the generated arguments, each a Megatron flag:
``--transformer-impl local --no-rope-fusion`` (no Transformer Engine), ``--use-cpu-initialization``,
``--no-gradient-accumulation-fusion --no-persist-layer-norm --no-masked-softmax-fusion
--no-bias-dropout-fusion --no-bias-swiglu-fusion`` (CUDA/apex kernels), ``--mock-data`` (no data
files); the process group is gloo. ``typing.override`` (Python 3.12) is aliased on 3.11, as in
tests/test_frameworks.py. The optimizer over Megatron's groups is torch AdamW, what Megatron itself
falls back to without Transformer Engine or Apex; the scheduler is Megatron's own
(``megatron.training.training.get_optimizer_param_scheduler``).
"""

import json
import os
import sys
import typing

import typing_extensions

if not hasattr(typing, "override"):
    typing.override = typing_extensions.override

CPU_ARGS = ["--transformer-impl", "local", "--no-rope-fusion", "--use-cpu-initialization",
            "--no-gradient-accumulation-fusion", "--no-persist-layer-norm", "--no-masked-softmax-fusion",
            "--no-bias-dropout-fusion", "--no-bias-swiglu-fusion", "--mock-data"]


def main():
    out, argv = sys.argv[1], sys.argv[2:]
    sys.path.insert(0, out)
    import megatron_pretrain as wrapper
    import torch
    import torch.distributed as dist

    os.environ.update(WORLD_SIZE="1", RANK="0", LOCAL_RANK="0", CUDA_DEVICE_MAX_CONNECTIONS="1")
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29531")
    dist.init_process_group("gloo", rank=0, world_size=1)
    import megatron.training.arguments as margs
    import megatron.training.training as training
    from megatron.core import parallel_state
    from megatron.core.optimizer import _get_param_groups
    from megatron.core.process_groups_config import ProcessGroupCollection
    from megatron.training.argument_utils import gpt_config_from_args
    from megatron.training.global_vars import set_args
    from megatron.training.models.gpt import GPTModelBuilder

    sys.argv = ["pretrain_gpt.py", *argv, *CPU_ARGS]
    args = margs.parse_args()
    margs.validate_args(args)
    set_args(args)
    parallel_state.initialize_model_parallel(args.tensor_model_parallel_size, args.pipeline_model_parallel_size)
    model = GPTModelBuilder(gpt_config_from_args(args)).build_model(ProcessGroupCollection.use_mpu_process_groups())
    wrapper.install()  # what megatron_pretrain.py does before running pretrain_gpt.py
    config, overrides = training.get_megatron_optimizer_config(args)
    groups = _get_param_groups([model], config, overrides)
    optimizer = torch.optim.AdamW([dict(g) for g in groups], lr=args.lr, betas=(args.adam_beta1, args.adam_beta2))
    scheduler = training.get_optimizer_param_scheduler(optimizer)
    scheduler.step(increment=args.lr_warmup_iters * args.global_batch_size)  # the end of warmup: the peak
    names = {id(p): n for n, p in model.named_parameters()}
    report = {"parameters": sum(p.numel() for p in model.parameters()), "groups": {}}
    for g in optimizer.param_groups:
        for p in g["params"]:
            report["groups"][names[id(p)]] = {"lr": g["lr"], "max_lr": g["max_lr"], "min_lr": g["min_lr"],
                                              "weight_decay": g["weight_decay"], "eps": g["eps"]}
    print("RECIPEC-JSON " + json.dumps(report))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
