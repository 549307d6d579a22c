"""Before the first batch: will one training step fit in memory, and the checkpoints on disk?

A batch that cannot fit fails minutes into a run with an allocator traceback (on the CPU,
`DefaultCPUAllocator: can't allocate memory`); a disk too small for `last.pt` fails after
the first epoch. Both are known before training starts, so the run refuses at once with the
estimate and what to change.

Memory estimate of one training step, `step_memory`:
- activations: the model runs once on torch's meta device (no memory, no arithmetic) with
  forward hooks summing the bytes of every leaf module's output for one batch. Autograd keeps
  about those tensors for the backward pass (each layer's input is the previous one's
  output). The backward pass adds gradients of the same shapes but frees them layer by
  layer, while the sum already counts some tensors twice (an in-place ReLU's output is its
  input), so the sum is taken once (`ACTIVATION_FACTOR = 1`): measured against the peak
  resident memory of a real CPU step (`benchmarks/bench_memory_estimate.py`) the estimate
  came out 0.96–1.5× the real figure for conv, dilated, resnet18 and alexnet. Twice the sum
  (saved tensors + all their gradients at once) overestimated by 2–2.6× and would refuse
  batches that fit. Scratch buffers inside ops (the hand-written conv's im2col chunks) are
  not counted: an estimate, not a promise; a step that still runs out is recognised at
  run time (`failures.is_out_of_memory`).
- weights: parameters and buffers, their gradients, and the optimiser's state (Adam and
  AdamW keep two tensors per parameter, SGD with momentum one).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.errors import ConfigError, StorageError
from engine.models import create_model, get_model_info
from engine.trainer.config import TrainConfig

log = logging.getLogger(__name__)

ACTIVATION_FACTOR = 1  # the summed leaf outputs, once (module docstring)
FIT_SHARE = 0.9  # refuse when the estimate exceeds this share of the available memory
_OPTIMIZER_STATES = {"adam": 2, "adamw": 2}
_MIB = 2**20


def _gib(size: float) -> str:
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / _MIB:.0f} MiB"


def meta_model(config: TrainConfig, num_classes: int) -> nn.Module:
    """The configured model built on the meta device (shapes only, no memory)."""
    extra = {"num_classes": num_classes} if get_model_info(config.model).task == "classify" else {}
    with torch.device("meta"):
        return create_model(
            config.model,
            in_channels=3,
            image_size=config.image_size,
            **extra,
            **config.model_options,
        )


def activation_bytes(model: nn.Module, batch: int, size: int) -> int:
    """Bytes of every leaf module's output for one (batch, 3, size, size) input, on meta."""
    total = 0

    def count(_module: nn.Module, _inputs: Any, output: Any) -> None:
        nonlocal total
        outputs = output if isinstance(output, (tuple, list)) else (output,)
        total += sum(t.numel() * t.element_size() for t in outputs if isinstance(t, torch.Tensor))

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(count) for m in leaves]
    try:
        model.train()
        model(torch.empty(batch, 3, size, size, device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    return total


def weight_bytes(model: nn.Module, optimizer: str, momentum: float) -> int:
    """Parameters and buffers, plus gradients and optimiser state for the parameters."""
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    states = _OPTIMIZER_STATES.get(optimizer, 1 if momentum else 0)
    return buffers + params * (2 + states)


def step_memory(config: TrainConfig, num_classes: int, batch: int) -> int | None:
    """Estimated bytes one training step needs, or None when the model cannot run on meta."""
    try:
        model = meta_model(config, num_classes)
        size = config.train_crop or config.image_size
        activations = activation_bytes(model, batch, size)
    except Exception as exc:  # an op without a meta kernel: no estimate, no refusal
        log.debug("no memory estimate for %s: %s", config.model, exc)
        return None
    return ACTIVATION_FACTOR * activations + weight_bytes(model, config.optimizer, config.momentum)


def _cgroup_limit() -> int | None:
    """Bytes this process may still take under a cgroup-v2 memory limit, if there is one."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
    except (OSError, ValueError):
        return None
    return None if limit == "max" else max(0, int(limit) - used)


def available_memory(device: torch.device) -> int | None:
    """Free memory on `device`: MemAvailable (and any cgroup limit) on the CPU, the
    driver's free bytes on CUDA; None where it cannot be known (MPS)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type != "cpu":
        return None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                free = int(line.split()[1]) * 1024
                limit = _cgroup_limit()
                return free if limit is None else min(free, limit)
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_memory(
    config: TrainConfig, num_classes: int, num_train: int, device: torch.device
) -> None:
    """`ConfigError` on batch_size when one training step clearly cannot fit on `device`."""
    batch = min(config.batch_size, max(1, num_train))
    needed = step_memory(config, num_classes, batch)
    free = available_memory(device)
    if needed is None or free is None or needed <= FIT_SHARE * free:
        return
    raise ConfigError(
        {
            "batch_size": (
                f"one training step with batch size {batch} at {config.image_size} px needs "
                f"about {_gib(needed)} ({config.model}: activations kept for the backward "
                f"pass, weights, gradients, optimiser state) but {device} has "
                f"{_gib(free)} available: lower --batch-size (or --image-size)"
            )
        }
    )


def checkpoint_bytes(config: TrainConfig, num_classes: int) -> int | None:
    """About the size of one `last.pt`: weights, buffers and optimiser state."""
    try:
        model = meta_model(config, num_classes)
    except Exception:
        return None
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    return buffers + params * (1 + _OPTIMIZER_STATES.get(config.optimizer, 1))


def check_disk(config: TrainConfig, num_classes: int, run_dir: Path, resumed: bool) -> None:
    """`StorageError` when the run folder's disk cannot hold the checkpoints: a new run
    writes last.pt and best.pt, each through a temporary copy; a resumed one replaces them."""
    size = checkpoint_bytes(config, num_classes)
    if size is None:
        return
    needed = size * (1 if resumed else 3) + _MIB  # + summaries, metrics, log
    free = shutil.disk_usage(run_dir).free
    if free < needed:
        raise StorageError(
            f"cannot write the checkpoints in {run_dir}: no space left on device "
            f"(about {_gib(needed)} needed for last.pt, best.pt and a temporary copy, "
            f"{_gib(free)} free)",
            reason="no space left on device",
        )


def check_resources(
    config: TrainConfig, bundle: Any, device: torch.device, run_dir: Path | None
) -> None:
    """Refuse, before the first batch, a run whose step or checkpoints cannot fit
    (`run_dir` None: this process writes no checkpoint — a distributed run's other ranks)."""
    num_classes = max(1, len(bundle.classes))
    if run_dir is not None:
        resumed = (Path(run_dir) / "last.pt").exists()
        check_disk(config, num_classes, Path(run_dir), resumed=resumed)
    check_memory(config, num_classes, len(bundle.train_x), device)
