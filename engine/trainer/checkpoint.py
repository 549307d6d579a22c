"""Checkpoints: everything a run needs to continue exactly where it stopped.

`last.pt` is rewritten after every epoch and `best.pt` copied from it when the run improves.
Both are written to a temporary file and renamed, so a crash mid-write keeps the old one.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from engine.errors import RunStoreError

LAST = "last.pt"
BEST = "best.pt"


def _temp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def _write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Have `write` fill a temporary file beside `path`, then rename it over `path`."""
    temp = _temp(path)
    try:
        write(temp)
        os.replace(temp, path)
    finally:
        if temp.exists():
            temp.unlink()


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write `state` with torch.save, atomically."""
    _write_atomically(Path(path), lambda temp: torch.save(state, temp))


def copy_checkpoint(source: Path, target: Path) -> None:
    """Copy a checkpoint file atomically (best.pt from last.pt)."""
    _write_atomically(Path(target), lambda temp: shutil.copyfile(source, temp))


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint`; `RunStoreError` when it is unusable."""
    path = Path(path)
    if not path.is_file():
        raise RunStoreError(f"no checkpoint at {path}: this run cannot be resumed")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        raise RunStoreError(f"checkpoint {path} is damaged ({exc})") from exc
    if not isinstance(state, dict) or "epoch" not in state:
        raise RunStoreError(f"checkpoint {path} is not a cnnlab checkpoint")
    return state


def checkpoint_epoch(path: Path) -> int:
    """The number of finished epochs stored in a checkpoint, read cheaply (memory-mapped)."""
    path = Path(path)
    if not path.is_file():
        raise RunStoreError(f"no checkpoint at {path}: this run cannot be resumed")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        return int(state["epoch"])
    except Exception as exc:
        raise RunStoreError(f"checkpoint {path} is damaged ({exc})") from exc
