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


def is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


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
