"""Data-parallel rungs under ``torchrun``: FSDP2 sharding, batch split, σ from sharded weights.

``torchrun --nproc-per-node N -m recipec verify …`` sets ``WORLD_SIZE`` > 1; :func:`setup` then opens the
process group (gloo on CPU, nccl on CUDA, one GPU per local rank) and a 1-D device mesh. Every rank
builds the same model from the same seed, and :func:`shard` applies ``fully_shard`` to each transformer
block and to the root (embedding, final norm, readout), so parameters, gradients and AdamW states are
split across ranks; FSDP averages the gradients (reduce-scatter).

The global batch and data order equal the single-process run: every rank draws the same seeded batch
of B sequences and keeps its own contiguous B/N rows (:meth:`Dist.local_rows`). Each rank's loss is the
mean over its rows; the mean of those means over ranks is the global mean, and it is what FSDP's
gradient average differentiates.

σ of a sharded matrix: :func:`full_matrix` all-gathers the DTensor (``full_tensor()``), so the estimator
sees exactly the matrix a single process would hold. The estimates are spread over the ranks (matrix i
on rank i mod N, which keeps that matrix's warm-start block) and then shared with one all-reduce, so
every rank holds the same σ values, the same loss and therefore the same verdict and exit code. Only
rank 0 prints and writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Dist:
    rank: int
    world: int
    local_rank: int
    device: torch.device
    mesh: object  # torch.distributed.device_mesh.DeviceMesh

    @property
    def primary(self) -> bool:
        return self.rank == 0

    def local_rows(self, batch):
        """This rank's contiguous share of a global batch (first dimension)."""
        per = batch.shape[0] // self.world
        return batch[self.rank * per:(self.rank + 1) * per]

    def all_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor


def launched() -> bool:
    """True under torchrun (or any launcher that sets WORLD_SIZE) with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def world_size() -> int:
    """The processes a launcher started (1 without one)."""
    return int(os.environ.get("WORLD_SIZE", "1")) if launched() else 1


def setup(device: str) -> tuple[Dist, str]:
    """Open the process group and mesh for ``device`` ("cpu" or "cuda"); return it and this rank's device."""
    from torch.distributed.device_mesh import init_device_mesh

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device.startswith("cuda")
    if cuda:
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        kwargs = {"device_id": torch.device(device)} if cuda else {}
        dist.init_process_group(backend="nccl" if cuda else "gloo", **kwargs)
    world = dist.get_world_size()
    mesh = init_device_mesh("cuda" if cuda else "cpu", (world,))
    return Dist(rank=dist.get_rank(), world=world, local_rank=local_rank, device=torch.device(device),
                mesh=mesh), device


def teardown(wait: bool = True) -> None:
    """Close the process group, after every rank got here when ``wait`` (so that no rank exits, and makes
    torchrun stop the others, before rank 0 has written the report)."""
    if dist.is_available() and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


def is_primary() -> bool:
    """Rank 0, or the only process (also after the process group is closed: torchrun sets RANK)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0


def _fully_shard():
    try:
        from torch.distributed.fsdp import fully_shard
    except ImportError:  # torch < 2.6 kept FSDP2 under the composable namespace
        from torch.distributed._composable.fsdp import fully_shard
    return fully_shard


def repeated_blocks(model) -> list:
    """The transformer blocks: the children of the first ``nn.ModuleList`` in the model (the reference
    decoder's ``blocks``; nanoGPT's ``transformer.h``; HF's ``model.layers``)."""
    from torch import nn

    blocks = next((m for m in model.modules() if isinstance(m, nn.ModuleList) and len(m)), None)
    return list(blocks) if blocks is not None else []


def shard(model, d: Dist) -> None:
    """FSDP2: one unit per transformer block, the root holds embedding, final norm and readout."""
    fully_shard = _fully_shard()
    for block in repeated_blocks(model):
        fully_shard(block, mesh=d.mesh)
    fully_shard(model, mesh=d.mesh)


def full_matrix(param: torch.Tensor) -> torch.Tensor:
    """The whole matrix of a parameter that may be a sharded DTensor (a collective: call on every rank)."""
    full = getattr(param, "full_tensor", None)
    return full() if full is not None else param
