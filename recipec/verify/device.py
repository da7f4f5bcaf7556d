"""The device a verify run trains on (:func:`setup`): which one, its memory and peak, the batch split over
processes, and on a CPU its measured matmul rate, thread count and fixed cost per step (what the planner's
time estimates start from)."""

from __future__ import annotations

from dataclasses import dataclass

from recipec.verify import ladder
from recipec.verify.options import OptionError, flag


def choose_device(opts) -> str:
    import torch

    device = opts.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise OptionError("device", f"CUDA is not available on this machine; use {flag('device')} cpu")
    return device


def cpu_flops(window: float = 0.05, warmup: float = 0.1, dtype=None) -> float:
    """The fp32 (or ``dtype``) matmul rate this CPU gives right now at a training-like size, after a
    warm-up (a cold thread pool reads 10× low)."""
    import time

    import torch

    a, b = torch.randn(256, 512, dtype=dtype), torch.randn(512, 512, dtype=dtype)
    started = time.perf_counter()
    while time.perf_counter() - started < warmup:
        torch.mm(a, b)
    n, started = 0, time.perf_counter()
    while time.perf_counter() - started < window:
        torch.mm(a, b)
        n += 1
    return 2 * 256 * 512 * 512 * n / (time.perf_counter() - started)


def choose_cpu_threads(say) -> float:
    """Use torch's thread count or one thread, whichever is faster at its *worst* of three interleaved
    probes; returns that setting's median rate (what the plan assumes). On cores other processes share, a GEMM split
    over every core waits for the busiest one: on 2 shared cores, 2 threads measured 8-164 GFLOP/s from one
    second to the next and 1 thread a steady 92."""
    import torch

    threads = torch.get_num_threads()
    if threads == 1:
        return sorted(cpu_flops() for _ in range(3))[1]
    multi, single = [], []
    for _ in range(3):
        torch.set_num_threads(threads)
        multi.append(cpu_flops(warmup=0.05))
        torch.set_num_threads(1)
        single.append(cpu_flops(warmup=0.02))
    if min(single) >= min(multi):
        say(f"CPU: 1 thread (at worst {min(single) / 1e9:.0f} GFLOP/s) is steadier than {threads} (at worst "
            f"{min(multi) / 1e9:.0f}, at best {max(multi) / 1e9:.0f}) on this machine now: verify runs on 1 thread")
        return sorted(single)[1]
    torch.set_num_threads(threads)
    return sorted(multi)[1]


def cpu_step_overhead(rung, settings, corpus, rate: float, vocab: int, bf16_rate: float | None = None) -> float:
    """The fixed cost of a training step on this CPU, beyond its FLOPs: twice twelve steps of the narrowest
    rung (the first six of each warm up and are not timed; the faster run counts), less their FLOPs at the
    measured matmul rate ``rate``."""
    from recipec.verify.train import train_rung

    rates = [train_rung(rung, settings, corpus, "probe").tokens_per_second for _ in range(2)]
    depth = rung.resolved.shape.depth
    if not max(rates):
        return ladder.CPU_STEP_OVERHEAD_PER_LAYER_S * depth
    step = settings.batch * settings.seq_len / max(rates)  # the faster of two: a burst of other work is not the CPU
    flops = ladder.rung_cost(rung, vocab, settings.batch, settings.seq_len, 1, False, None, 0, rate).flops_per_step
    muon = ladder.muon_flops_per_step(rung.resolved) / (bf16_rate or rate)  # Muon's own, counted apart
    return max(0.0, step - flops / (rate * ladder.CPU_TRAIN_EFFICIENCY) - muon)


def capacity(device: str) -> tuple[float, float | None, str]:
    """(memory in bytes, dense bf16 peak FLOP/s or None, a name for messages)."""
    import torch

    from recipec.hardware import gpu_by_device_name

    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(device)
        gpu = gpu_by_device_name(props.name)
        return float(props.total_memory), None if gpu is None else gpu.peak_bf16_flops, f"the GPU ({props.name})"
    try:
        with open("/proc/meminfo") as f:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f}
        return float(info.get("MemAvailable", info["MemTotal"])), None, "available RAM"
    except (OSError, KeyError, ValueError):
        return float("inf"), None, "RAM"


def device_name(device: str, world: int = 1) -> str:
    import torch

    if device.startswith("cuda"):
        name = f"cuda ({torch.cuda.get_device_name(device)})"
    else:
        name = f"cpu ({torch.get_num_threads()} threads)"
    return name if world == 1 else f"{name} × {world} processes, FSDP2 (fully_shard per block and root)"


@dataclass(frozen=True)
class Setup:
    """What the run trains on and with: device, processes, batch split, sequence length, vocabulary,
    memory and peak, and on a CPU the measured matmul rate and fixed cost per step."""

    device: str
    world: int
    batch: int
    micro: int
    seq_len: int
    vocab: int
    memory_limit: float
    peak: float | None
    where: str
    cpu_flops: float | None
    overhead: float | None = None
    cpu_bf16_flops: float | None = None  # measured when Muon trains some kinds (its Newton–Schulz runs in bf16)

    @property
    def on_gpu(self) -> bool:
        return self.device.startswith("cuda")

    def cost(self, rung, steps: int, checkpoints: int):
        return ladder.rung_cost(rung, self.vocab, self.batch, self.seq_len, steps, self.on_gpu, self.peak,
                                checkpoints, self.cpu_flops, self.overhead, self.cpu_bf16_flops)


def batching(opts, on_gpu: bool, world: int) -> tuple[int, int]:
    """(global batch, micro batches): the micro batches a multiple of the processes, splitting the batch."""
    batch = opts.batch or (32 if on_gpu else 8)
    micro = opts.micro_batches or world
    if micro % world:
        raise OptionError("micro_batches", f"must be a positive multiple of the {world} processes (got {micro})")
    if batch % micro:
        raise OptionError("batch", f"batch {batch} does not split evenly into {micro} micro batches"
                          + (f" over {world} processes" if world > 1 else "") + f"; pass a multiple of {micro}")
    return batch, micro


def setup(loaded, opts, source, say) -> Setup:
    """Choose the device and the batch split, and on one CPU process measure it (``say``: a line for the user)."""
    from recipec.verify import distributed
    from recipec.verify.data import BYTE_VOCAB, corpus_for

    recipe = loaded.recipe
    device = choose_device(opts)
    on_gpu = device.startswith("cuda")
    world = distributed.world_size()
    batch, micro = batching(opts, on_gpu, world)
    seq_len = opts.seq_len or min(512 if on_gpu else 64, recipe.model.seq_len)
    vocab = BYTE_VOCAB if opts.data == "builtin" else recipe.model.vocab_size
    memory_limit, peak, where = capacity(device)
    # (under torchrun each process keeps the thread count its launcher gave it)
    rate = None if on_gpu else (choose_cpu_threads(lambda t: say(t)) if world == 1 else
                                cpu_flops())
    setup = Setup(device, world, batch, micro, seq_len, vocab, memory_limit, peak, where, rate)
    if on_gpu or world > 1:
        return setup
    first = (recipe.model.width if opts.widths.strip() == "auto" else
             ladder.parse_widths(opts.widths, recipe.model.width, ladder.target_width(loaded, opts.size))[0])
    say(f"measuring this CPU: matmul at {rate / 1e9:.1f} GFLOP/s; a few training steps at width {first}")
    from recipec.verify.train import RunSettings

    rung = ladder.plan(loaded, opts.size, [first], opts.depth)[0]
    bf16 = None
    if rung.resolved.muon is not None:
        import torch

        bf16 = cpu_flops(dtype=torch.bfloat16)
        say(f"  Muon's Newton–Schulz runs in bfloat16: matmul at {bf16 / 1e9:.2f} GFLOP/s here")
    corpus = corpus_for(opts, recipe.model.vocab_size, seq_len, 1 << 20)
    settings = RunSettings(steps=12, warmup_steps=1, batch=batch, seq_len=seq_len, checkpoints=[6, 12], device="cpu",
                           compression=1.0, seed=opts.seed, vocab_size=corpus.vocab_size, progress=False,
                           micro_batches=micro, source=source)
    overhead = cpu_step_overhead(rung, settings, corpus, rate, vocab, bf16)
    return Setup(**{**setup.__dict__, "overhead": overhead, "cpu_bf16_flops": bf16})
