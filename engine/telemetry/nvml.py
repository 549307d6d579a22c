"""The NVML call boundary: load the library and read every GPU once.

Everything NVML says goes through `read_gpus(nvml)`, where `nvml` is the `pynvml` module
(or, in tests, a stand-in with the same functions). A value one GPU cannot report
(power on some boards, the process list without permission) is None, not an error.
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass, field
from typing import Any

EXTRA_HINT = "pip install 'cnnlab[gpu]'"


@dataclass(frozen=True)
class GpuReading:
    """One GPU at one moment: NVML's index, uuid and name; utilisation in %, memory in
    bytes, temperature in °C, power in W, and the processes using it ({pid, memory})."""

    index: int
    uuid: str
    name: str
    utilisation: float | None
    memory_used: int | None
    memory_total: int | None
    temperature: float | None
    power: float | None
    processes: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_nvml(module: Any = None) -> tuple[Any | None, str | None]:
    """(initialised NVML module, None), or (None, one line saying why not): the library
    is missing, or no NVIDIA driver / GPU answers."""
    if module is None:
        try:
            module = importlib.import_module("pynvml")
        except ImportError:
            return None, f"GPU telemetry needs nvidia-ml-py ({EXTRA_HINT})"
    try:
        module.nvmlInit()
        count = int(module.nvmlDeviceGetCount())
    except Exception as exc:  # NVMLError: no driver, no library, no permission
        return None, f"no NVIDIA GPU to watch ({_text(exc)})"
    if count == 0:
        return None, "no NVIDIA GPU to watch (NVML sees none)"
    return module, None


def read_gpus(nvml: Any) -> list[GpuReading]:
    """Every GPU NVML sees, now."""
    readings = []
    for index in range(int(nvml.nvmlDeviceGetCount())):
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        memory = _try(nvml.nvmlDeviceGetMemoryInfo, handle)
        util = _try(nvml.nvmlDeviceGetUtilizationRates, handle)
        power = _try(nvml.nvmlDeviceGetPowerUsage, handle)  # milliwatts
        temperature = _try(
            nvml.nvmlDeviceGetTemperature, handle, getattr(nvml, "NVML_TEMPERATURE_GPU", 0)
        )
        readings.append(
            GpuReading(
                index=index,
                uuid=_text(_try(nvml.nvmlDeviceGetUUID, handle) or f"gpu-{index}"),
                name=_text(_try(nvml.nvmlDeviceGetName, handle) or "GPU"),
                utilisation=float(util.gpu) if util is not None else None,
                memory_used=int(memory.used) if memory is not None else None,
                memory_total=int(memory.total) if memory is not None else None,
                temperature=float(temperature) if temperature is not None else None,
                power=float(power) / 1000 if power is not None else None,
                processes=_processes(nvml, handle),
            )
        )
    return readings


def _processes(nvml: Any, handle: Any) -> list[dict[str, Any]]:
    found = _try(nvml.nvmlDeviceGetComputeRunningProcesses, handle) or []
    return [{"pid": int(p.pid), "memory": getattr(p, "usedGpuMemory", None)} for p in found]


def _try(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except Exception:  # NVMLError_NotSupported and friends: that value is unknown
        return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
