"""Checkpoints: everything a run needs to continue exactly where it stopped — what the
state holds (`checkpoint_state` / `restore_state`) and how it is written and read.

`last.pt` is rewritten after every epoch and `best.pt` copied from it when the run improves.
Both are written to a temporary file and renamed, so a crash mid-write keeps the old one.
The state is serialised in memory first and written with plain file calls, so a full disk
or a read-only folder surfaces as a `StorageError` naming the file ("no space left on
device"), not as torch's "unexpected pos" from inside its zip writer.
"""

from __future__ import annotations

import io
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import torch

from engine.errors import RunStoreError
from engine.runs.files import write_bytes_atomic, write_failure
from engine.trainer.config import TrainConfig
from engine.trainer.epoch import Parts

LAST = "last.pt"
BEST = "best.pt"


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write `state` with torch.save, atomically (`StorageError` when it cannot be written)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_bytes_atomic(Path(path), buffer.getbuffer())


def copy_checkpoint(source: Path, target: Path) -> None:
    """Copy a checkpoint file atomically (best.pt from last.pt)."""
    target = Path(target)
    temp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        shutil.copyfile(source, temp)
        os.replace(temp, target)
    except OSError as exc:
        raise write_failure(exc, target) from exc
    finally:
        if temp.exists():
            temp.unlink()


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
    return checkpoint_facts(path)[0]


def checkpoint_facts(path: Path) -> tuple[int, int]:
    """(finished epochs, processes it was trained on — 1 before distributed runs), read
    cheaply (memory-mapped)."""
    path = Path(path)
    if not path.is_file():
        raise RunStoreError(f"no checkpoint at {path}: this run cannot be resumed")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        return int(state["epoch"]), int(state.get("world_size", 1))
    except Exception as exc:
        raise RunStoreError(f"checkpoint {path} is damaged ({exc})") from exc


def checkpoint_state(
    parts: Parts, epoch: int, best_score: float, config: TrainConfig
) -> dict[str, Any]:
    """Everything `restore_state` needs to continue after `epoch`."""
    state: dict[str, Any] = {
        "epoch": epoch,
        "best_score": best_score,
        "config": config.to_dict(),
        "model": parts.model.state_dict(),
        "scaler": parts.scaler.state_dict(),
        "shuffle_rng": parts.shuffle_generator.get_state(),
        "augment_rng": parts.augment_generator.get_state(),
        "torch_rng": torch.get_rng_state(),
    }
    mean, std = getattr(parts.task, "mean", None), getattr(parts.task, "std", None)
    if mean is not None and std is not None:  # what normalize="dataset" used (engine.use)
        state["normalization"] = {"mean": list(mean), "std": list(std)}
    if parts.optimizer is not None and parts.scheduler is not None:
        state["optimizer"] = parts.optimizer.state_dict()
        state["scheduler"] = parts.scheduler.state_dict()
    if parts.lookahead is not None:
        state["lookahead"] = parts.lookahead.average
    if parts.device.type == "cuda":
        state["cuda_rng"] = torch.cuda.get_rng_state(parts.device)
    return state


def restore_state(parts: Parts, state: dict[str, Any], config: TrainConfig) -> tuple[int, float]:
    """Load a checkpoint into `parts`; returns (finished epochs, best score so far).

    Hyper-parameters come from `config`, not the checkpoint, so a resumed run may change its
    lr, weight decay, momentum, schedule or length.
    """
    parts.model.load_state_dict(state["model"])
    if parts.optimizer is not None and "optimizer" in state:
        parts.optimizer.load_state_dict(state["optimizer"])
        parts.scheduler.load_state_dict(dict(state["scheduler"]))
        bases = [config.lr * g.get("lr_mult", 1.0) for g in parts.optimizer.param_groups]
        parts.scheduler.base_lrs = bases
        step = parts.scheduler.last_epoch
        for group, factor, base in zip(
            parts.optimizer.param_groups, parts.scheduler.lr_lambdas, bases, strict=True
        ):
            group.update(initial_lr=base, lr=base * factor(step))
            group["weight_decay"] = config.weight_decay
            if "momentum" in group:
                group["momentum"] = config.momentum
    if parts.lookahead is not None and "lookahead" in state:
        for key, value in state["lookahead"].items():
            parts.lookahead.average[key].copy_(value)
    if state.get("scaler"):
        parts.scaler.load_state_dict(state["scaler"])
    parts.shuffle_generator.set_state(state["shuffle_rng"])
    parts.augment_generator.set_state(state["augment_rng"])
    torch.set_rng_state(state["torch_rng"])
    if parts.device.type == "cuda" and "cuda_rng" in state:
        torch.cuda.set_rng_state(state["cuda_rng"], parts.device)
    return int(state["epoch"]), float(state.get("best_score", float("-inf")))
