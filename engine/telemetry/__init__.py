"""GPU telemetry through NVIDIA's own NVML bindings (the `nvidia-ml-py` package, module
`pynvml`): what nvitop shows — per GPU utilisation, memory, temperature, power and the
processes on it — read about once a second by a `GpuSampler` thread.

    sampler = shared_sampler()        # one per process, started on first use
    snapshot = sampler.snapshot()     # Snapshot(available, message, gpus, history)
    sampler.utilisation(uuid, since)  # mean % over the samples since a moment (an epoch)
    release_sampler()

`engine.telemetry.nvml` is the only module that calls NVML; tests hand the sampler a
stand-in module at that boundary. No torch here.
"""

from engine.telemetry.nvml import GpuReading, load_nvml, read_gpus
from engine.telemetry.sampler import GpuSampler, Snapshot, release_sampler, shared_sampler

__all__ = [
    "GpuReading",
    "GpuSampler",
    "Snapshot",
    "load_nvml",
    "read_gpus",
    "release_sampler",
    "shared_sampler",
]
