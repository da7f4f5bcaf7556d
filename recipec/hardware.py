"""What recipec knows of each GPU: memory and dense bf16 peak. One table for ``recipec estimate`` (by
key, ``--gpu h100``) and ``recipec verify`` (by the device name torch reports, e.g. "NVIDIA H100 80GB
HBM3"). No torch, nothing else from recipec: the compile path may import it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_gib: float
    peak_bf16_tflops: float  # dense
    match: str  # found in the device name torch reports (torch.cuda.get_device_name)

    @property
    def peak_bf16_flops(self) -> float:
        return self.peak_bf16_tflops * 1e12


GPUS = {
    "h100": Gpu("H100 80GB (SXM)", 80.0, 989.0, "H100"),
    "h200": Gpu("H200 141GB", 141.0, 989.0, "H200"),
    "a100": Gpu("A100 80GB", 80.0, 312.0, "A100"),
    "l40s": Gpu("L40S 48GB", 48.0, 362.0, "L40S"),
    "b200": Gpu("B200 180GB", 180.0, 2250.0, "B200"),
}


def gpu_by_device_name(device_name: str) -> Gpu | None:
    """The table's entry for a device torch names (a substring match), or None for a GPU not in it."""
    return next((g for g in GPUS.values() if g.match in device_name), None)
