"""One run over several processes (GPUs, machines) with torch.distributed: the pieces the
trainer's loop calls, so the loop itself keeps reading top to bottom.

Each process (rank) is started by torchrun (`cnnlab train --nproc-per-node N`, see
engine.cli.train_distributed) and finds its place in the environment torchrun sets (RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT). NCCL on CUDA (each rank on cuda:LOCAL_RANK),
gloo on the CPU.

What a rank does differently from a single process:
* data: every rank holds the whole (small, in-memory) data set and draws the same seeded
  permutation each epoch; of each global batch — the configured `batch_size` — rank r
  trains on positions r, r+W, r+2W, … (`shard`). Over an epoch that is the rank's shard.
* gradients: DistributedDataParallel averages them over ranks; each rank's loss is scaled
  by its share of the batch (`loss_weight`), so the step is exactly the single-process step
  on the global batch, also when the batch does not split evenly. The learning rate is the
  configured one, unscaled: the global batch is what it was tuned for.
* BatchNorm: each rank normalises over its own part of the batch (B/W images) unless the
  config asks for `sync_bn` (SyncBatchNorm, CUDA only in torch); its running statistics are
  rank 0's before every evaluation (`sync_buffers`), and so in every checkpoint.
* stopping: a cancel, an interrupt or a non-finite loss is agreed between all ranks every
  `CHECK_EVERY` batches (one small all-reduce), so every rank stops at the same batch.
* evaluation runs on every rank (same model, same data: the same metrics) so no rank waits.
* only rank 0 writes the run folder and publishes events; checkpoints hold every rank's
  random-number states, and a run resumes on the same number of ranks only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from engine.errors import ConfigError
from engine.trainer.config import TrainConfig

log = logging.getLogger(__name__)

TIMEOUT_ENV = "CNNLAB_DDP_TIMEOUT"  # seconds a collective may wait for the other ranks
DEFAULT_TIMEOUT = 600.0
CHECK_EVERY = 10  # batches between two agreements on stopping (and on the first)


def launched() -> bool:
    """Whether this process is a rank torchrun started."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and "MASTER_ADDR" in os.environ


def timeout_seconds() -> float:
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    try:
        return float(text) if text else DEFAULT_TIMEOUT
    except ValueError:
        raise ConfigError({"ddp": f"${TIMEOUT_ENV} must be seconds, got {text!r}"}) from None


def sync_bn_problem(config: TrainConfig, device_type: str) -> str | None:
    """Why `sync_bn` cannot be used on `device_type` (torch's SyncBatchNorm is GPU-only)."""
    if config.sync_bn and device_type != "cuda":
        return (
            "SyncBatchNorm runs on CUDA only (torch); on the CPU each process keeps its own "
            "BatchNorm statistics: drop --sync-bn"
        )
    return None


@dataclass
class Distributed:
    """This rank's place: `rank` of `world_size`, `local_rank` on its machine, the backend
    and the device it trains on."""

    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def start(cls, config: TrainConfig) -> Distributed:
        """Join the process group torchrun described (NCCL when the config trains on CUDA
        here, else gloo), with a timeout on every collective."""
        from engine.trainer.device import resolve_device

        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local = int(os.environ.get("LOCAL_RANK", rank))
        wanted = resolve_device(config.device)
        if wanted.type == "cuda":
            torch.cuda.set_device(local)
            device, backend = torch.device("cuda", local), "nccl"
        elif wanted.type == "cpu":
            device, backend = torch.device("cpu"), "gloo"
        else:
            raise ConfigError({"device": f"several processes train on cuda or cpu, not {wanted}"})
        problem = sync_bn_problem(config, device.type)
        if problem:
            raise ConfigError({"sync_bn": problem})
        if not dist.is_initialized():
            kwargs: dict[str, Any] = {"timeout": timedelta(seconds=timeout_seconds())}
            if backend == "nccl":
                kwargs["device_id"] = device
            dist.init_process_group(backend, **kwargs)
        return cls(rank, world, local, backend, device)

    def close(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()

    def describe(self) -> str:
        plural = "es" if self.world_size > 1 else ""
        return f"{self.world_size} process{plural} ({self.backend})"

    # ------------------------------------------------------------------ agreeing on things

    def agree(self, value: Any) -> Any:
        """Rank 0's `value` on every rank (a run id, say)."""
        box = [value if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, value: Any) -> list[Any]:
        """Every rank's `value`, in rank order, on every rank."""
        found: list[Any] = [None] * self.world_size
        dist.all_gather_object(found, value)
        return found

    def should_stop(self, batch: int, wanted: bool, loss_sum: torch.Tensor) -> tuple[bool, bool]:
        """(stop, diverged), the same on every rank: any rank asked to stop, or any rank's
        loss is not finite — decided on the first batch and every CHECK_EVERY-th."""
        if batch != 1 and batch % CHECK_EVERY != 1:
            return False, False
        flags = torch.stack(
            [
                torch.tensor(float(wanted), device=loss_sum.device, dtype=torch.float64),
                (~torch.isfinite(loss_sum)).to(torch.float64),
            ]
        )
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        stop, bad = flags.tolist()
        return bool(stop), bool(bad)

    # ------------------------------------------------------------------ the model and data

    def prepare_model(self, model: nn.Module, config: TrainConfig) -> nn.Module:
        """SyncBatchNorm in place of BatchNorm when asked (before the optimiser is built)."""
        if config.sync_bn:
            return nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return model

    def wrap(self, model: nn.Module) -> nn.Module:
        """The DistributedDataParallel wrapper that trains `model` (which keeps its own
        plain state-dict keys for checkpoints and evaluation)."""
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def prepare_parts(self, parts: Any, config: TrainConfig, num_train: int) -> None:
        """Make a single process's parts a rank's: its own augmentation stream (rank 0
        keeps the single-process one), a trailing batch only when every rank gets two
        images of it (the schedule planned for that count), the DDP wrapper."""
        from engine.trainer.epoch import train_batches
        from engine.trainer.optim import build_scheduler

        parts.dist = self
        parts.augment_generator.manual_seed(config.seed + 1 + self.rank)
        per_epoch = train_batches(
            num_train, config.batch_size, config.max_train_batches,
            min_last=2 * self.world_size,
        )  # fmt: skip
        if per_epoch != parts.batches_per_epoch and parts.optimizer is not None:
            parts.batches_per_epoch = per_epoch
            parts.scheduler = build_scheduler(
                parts.optimizer, config.scheduler, per_epoch * config.epochs
            )
        if parts.optimizer is not None:
            parts.train_model = self.wrap(parts.model)

    def shard(self, index: torch.Tensor) -> torch.Tensor:
        """This rank's part of a global batch of positions."""
        return index[self.rank :: self.world_size]

    def loss_weight(self, local: int, global_size: int) -> float:
        """Scale of this rank's mean loss so DDP's average of gradients is the gradient of
        the global batch's mean loss."""
        return local * self.world_size / max(global_size, 1)

    def sum(self, *values: torch.Tensor) -> list[torch.Tensor]:
        """Each tensor summed over ranks (an epoch's loss sum, correct count, images)."""
        out = []
        for value in values:
            total = value.detach().clone().to(torch.float64)
            dist.all_reduce(total)
            out.append(total)
        return out

    def sync_buffers(self, model: nn.Module) -> None:
        """Rank 0's buffers (BatchNorm running statistics) on every rank."""
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)

    # ------------------------------------------------------------------ checkpoints

    def rank_states(self, parts: Any) -> list[dict[str, Any]]:
        """Every rank's random-number states (rank 0 saves them in the checkpoint)."""
        state = {
            "augment_rng": parts.augment_generator.get_state(),
            "torch_rng": torch.get_rng_state(),
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return self.gather(state)

    def restore_rank_state(self, parts: Any, state: dict[str, Any]) -> None:
        """Put back this rank's own random-number states from a checkpoint."""
        mine = state["ranks"][self.rank]
        parts.augment_generator.set_state(mine["augment_rng"])
        torch.set_rng_state(mine["torch_rng"])
        if self.device.type == "cuda" and "cuda_rng" in mine:
            torch.cuda.set_rng_state(mine["cuda_rng"], self.device)


def source_on_path(env: Mapping[str, str]) -> dict[str, str]:
    """`env`'s PYTHONPATH with this cnnlab's source tree first when it runs from one, so a
    process started as `python -m engine.cli` imports this code, not another install."""
    source = Path(__file__).resolve().parents[2]
    if not (source / "pyproject.toml").is_file():
        return {}
    path = env.get("PYTHONPATH")
    return {"PYTHONPATH": os.pathsep.join(p for p in (str(source), path) if p)}


def world_size_problem(saved: int, world_size: int, run_id: str) -> str | None:
    """Why run `run_id`, trained on `saved` processes, cannot continue on `world_size`."""
    if saved == world_size:
        return None
    if saved > 1:
        how = f"--nproc-per-node × --nnodes = {saved}"
    else:
        how = "one process: no --nproc-per-node"
    return (
        f"run {run_id} was trained on {saved} process(es); it resumes on the same number "
        f"only ({how}), not on {world_size}: each process's random state is in its checkpoint"
    )
