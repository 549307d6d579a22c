"""Messages for runs that end badly, written for the person who started them."""

from __future__ import annotations

import traceback

import torch

from engine.errors import CnnlabError
from engine.trainer.config import TrainConfig


def diverged_message(config: TrainConfig, epoch: int, where: str) -> str:
    """Why a run stopped as `diverged`, and what to change."""
    hint = " or turn off mixed precision" if config.amp else ""
    return (
        f"the loss became NaN or infinite in epoch {epoch} at {where}: training diverged. "
        f"Lower the learning rate (now {config.lr:g}){hint}"
    )


# What allocators say when they run out, on every device: CUDA and MPS say "out of memory",
# the CPU allocator "can't allocate memory" (c10's DefaultCPUAllocator), and plain Python
# (numpy, PIL) raises MemoryError.
_OOM_WORDS = ("out of memory", "can't allocate memory", "cannot allocate memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` (or an error it was raised from) is an allocation failure."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
            return True
        if isinstance(exc, RuntimeError) and any(w in str(exc).lower() for w in _OOM_WORDS):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def describe_failure(exc: BaseException, config: TrainConfig) -> tuple[str, str | None]:
    """(message for the summary, traceback for run.log or None when the message suffices).

    Errors a person caused (bad data, bad option) and out-of-memory get a plain message;
    anything else is a bug, so its traceback goes to the log.
    """
    if isinstance(exc, CnnlabError):
        return str(exc), None
    if is_out_of_memory(exc):
        return (
            f"out of memory with batch size {config.batch_size} and image size "
            f"{config.image_size}: lower --batch-size (or --image-size)",
            None,
        )
    return f"{type(exc).__name__}: {exc}", "".join(traceback.format_exception(exc))
