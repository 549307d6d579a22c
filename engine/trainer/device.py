"""Which device a run uses, and whether mixed precision applies there.

`auto` prefers CUDA, then Apple's MPS, then the CPU, so the same config runs anywhere;
an explicit device that is missing is a config error rather than a silent fallback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from engine.errors import ConfigError


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def device_problem(spec: str) -> str | None:
    """Why `spec` cannot be used on this machine, or None when it can."""
    if spec in ("auto", "cpu"):
        return None
    if spec == "mps":
        return None if _mps_available() else "mps is not available on this machine"
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            return "CUDA is not available on this machine (try auto or cpu)"
        index = int(spec.split(":")[1]) if ":" in spec else 0
        count = torch.cuda.device_count()
        if index >= count:
            return f"there is no {spec}: this machine has {count} CUDA device(s)"
        return None
    return f"unknown device {spec!r}"


def resolve_device(spec: str = "auto") -> torch.device:
    """The torch device for `spec` (auto → cuda, then mps, then cpu)."""
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    problem = device_problem(spec)
    if problem:
        raise ConfigError({"device": problem})
    return torch.device(spec)


def device_label(device: torch.device) -> str:
    """A readable name for summaries: 'cpu', 'cuda:0 (NVIDIA H100)', 'mps'."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return device.type


def amp_applies(device: torch.device, requested: bool) -> bool:
    """Mixed precision is used only when asked for and on CUDA (float16 + loss scaling)."""
    return bool(requested) and device.type == "cuda"


@contextlib.contextmanager
def autocast(device: torch.device, enabled: bool) -> Iterator[None]:
    """float16 autocast on CUDA when `enabled`; a no-op everywhere else."""
    if not enabled:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=torch.float16):
        yield


def grad_scaler(device: torch.device, enabled: bool) -> torch.amp.GradScaler:
    """A loss scaler that is active only with CUDA AMP (a pass-through otherwise)."""
    return torch.amp.GradScaler(device.type if enabled else "cpu", enabled=enabled)
