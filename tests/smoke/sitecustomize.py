"""CPU switches for the torchtitan smoke test (tests/test_smoke_train.py), loaded through PYTHONPATH.

The generated files and launch script run unchanged; only these stand-ins for a GPU are added, each
because torchtitan 0.3.0 on torch 2.13 CPU cannot run without it:

1. ``torch.distributed.set_timeout``: torchtitan's training loop calls it after the first step; torch
   2.13 has no such function. Shimmed as a no-op (the default process-group timeout stays).
2. ``torchtitan.tools.utils.device_type`` / ``device_module``: with no accelerator torchtitan falls back
   to ``"cuda"`` and calls ``torch.cuda.set_device``. Set to ``"cpu"`` and a minimal device module
   (no memory statistics: the log shows 0 GiB).
3. FlexAttention backward: torch refuses FlexAttention inputs that need gradients on CPU
   (``_validate_device``) and its compiled CPU kernel has no backward. The test also sets
   ``TORCHDYNAMO_DISABLE=1`` (torch.compile off), and the device check is lifted here, so torch's eager
   dense reference implementation of flex_attention runs, with the same block-causal mask.

Only active when ``RECIPEC_CPU_SMOKE=1``, so that nothing else on this path is affected.
"""

import os

if os.environ.get("RECIPEC_CPU_SMOKE") == "1":
    import types

    import torch.distributed as dist
    import torch.nn.attention.flex_attention as flex

    if not hasattr(dist, "set_timeout"):
        dist.set_timeout = lambda timeout, group=None: None

    import torchtitan.tools.utils as titan_utils

    titan_utils.device_type = "cpu"
    titan_utils.device_module = types.SimpleNamespace(
        set_device=lambda *a: None, current_device=lambda: 0, device_count=lambda: 1, synchronize=lambda *a: None,
        empty_cache=lambda: None, get_device_name=lambda *a: "cpu", memory_stats=lambda *a: {},
        reset_peak_memory_stats=lambda *a: None,
        get_device_properties=lambda *a: types.SimpleNamespace(total_memory=1 << 34, name="cpu"))
    flex._validate_device = lambda *a: None
