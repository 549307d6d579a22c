"""Per-epoch GPU figures a CUDA run adds to its metrics row (additive keys; other runs and
older files simply lack them):

    gpu_util              mean utilisation (%) of the run's GPU over the epoch, from the
                          process's NVML sampler (engine.telemetry); absent without NVML
    gpu_memory_peak_mib   the run's own peak allocated memory in the epoch (torch)

Utilisation is the GPU's (NVML cannot split it by process): another run on the same GPU
counts too. The GPU is matched to NVML's by UUID, so CUDA_VISIBLE_DEVICES cannot mix them up.
"""

from __future__ import annotations

import time
from typing import Any

import torch

MIB = 2**20  # bytes


class EpochGpuStats:
    """`begin()` at an epoch's start, `end()` → the keys above; `close()` when the run ends."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.on = device.type == "cuda"
        self._sampler: Any = None
        self._uuid: str | None = None
        self._since = 0.0
        if self.on:
            from engine.telemetry import shared_sampler

            self._sampler = shared_sampler()
            self._uuid = str(getattr(torch.cuda.get_device_properties(device), "uuid", ""))

    def begin(self) -> None:
        if self.on:
            self._since = time.time()
            torch.cuda.reset_peak_memory_stats(self.device)

    def end(self) -> dict[str, Any]:
        if not self.on:
            return {}
        row: dict[str, Any] = {
            "gpu_memory_peak_mib": round(torch.cuda.max_memory_allocated(self.device) / MIB, 1)
        }
        if self._sampler is not None and self._sampler.available:
            self._sampler.sample()  # an epoch shorter than the interval still gets a reading
            util = self._sampler.utilisation(self._uuid, self._since)
            if util is not None:
                row["gpu_util"] = round(util, 1)
        return row

    def close(self) -> None:
        if self._sampler is not None:
            from engine.telemetry import release_sampler

            self._sampler = None
            release_sampler()
