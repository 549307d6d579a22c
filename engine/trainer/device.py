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


def auto_device() -> str:
    """What `auto` means on this machine: cuda, then mps, then cpu (the one place it is
    decided)."""
    if torch.cuda.is_available():
        return "cuda"
    return "mps" if _mps_available() else "cpu"


def device_key(spec: str) -> str:
    """One name per physical device, for queues that run one job per device: `auto` is
    resolved and `cuda` is `cuda:0`, so two spellings of one device never train at once."""
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        spec = auto_device()
    return "cuda:0" if spec == "cuda" else spec


def resolve_device(spec: str = "auto") -> torch.device:
    """The torch device for `spec` (auto → cuda, then mps, then cpu)."""
    if spec == "auto":
        return torch.device(auto_device())
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
    """Mixed precision is used only when asked for and on CUDA."""
    return bool(requested) and device.type == "cuda"


def amp_dtype(device: torch.device, requested: bool) -> torch.dtype | None:
    """The autocast dtype for this run, or None for full precision.

    bfloat16 where the GPU supports it (Ampere and later): it has float32's range, so it
    needs no loss scaling; float16 with a loss scaler on older GPUs.
    """
    if not amp_applies(device, requested):
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@contextlib.contextmanager
def autocast(device: torch.device, dtype: torch.dtype | None) -> Iterator[None]:
    """Autocast to `dtype` on `device`; a no-op when `dtype` is None."""
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


def grad_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """A loss scaler that is active only under float16 autocast (a pass-through otherwise)."""
    enabled = dtype == torch.float16
    return torch.amp.GradScaler(device.type if enabled else "cpu", enabled=enabled)


def tune_backend(device: torch.device) -> list[str]:
    """Per-device speed settings a run turns on; returns what it did, for the run's log.

    On CUDA: cuDNN autotuning (fixed input shapes every batch, so the search pays off)
    and TF32 matrix maths for float32 layers.
    """
    if device.type != "cuda":
        return []
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    return ["cudnn.benchmark on", "TF32 matmul/conv on"]


def batch_to(
    device: torch.device, x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch on the training device: a no-op when the data set already lives there,
    an asynchronous copy from pinned host memory when it did not fit."""
    if x.device.type == device.type:
        return x, y
    return x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def bind_thread(device: str | None, threads: int | None) -> None:
    """Make the runs this thread trains use its lane: `threads` intra-op CPU threads and,
    for a `cuda:N` lane, N as the thread's current CUDA device (so a run asking for `auto`
    or `cuda` trains on N; `device_label` names it).

    Both are per calling thread: CUDA's current device by the CUDA runtime's rules, and
    torch's OpenMP intra-op count because `torch.set_num_threads` sets the calling
    thread's OpenMP team size (and MKL follows it). Measured with torch 2.14's OpenMP
    backend: two threads that each set 1 thread kept two busy OS threads in all, while one
    of them setting 2 added exactly one OpenMP worker; a thread that never sets one takes
    the last count set anywhere (tests/test_lane_threads.py)."""
    if threads is not None:
        torch.set_num_threads(max(int(threads), 1))
    if device and device.startswith("cuda:") and torch.cuda.is_available():
        torch.cuda.set_device(int(device.split(":", 1)[1]))
