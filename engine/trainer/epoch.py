"""One training epoch on whole tensor batches.

Batches are index slices of a seeded permutation over uint8 tensors already on the device;
the task (classify or dehaze) turns them into inputs and targets, so there is no DataLoader
and no per-image Python.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from engine.recipes.lookahead import Lookahead
from engine.trainer.device import autocast, batch_to
from engine.trainer.tasks import TrainingTask

# Publish batch progress at least this often (seconds), and on the first and last batch.
PROGRESS_INTERVAL = 0.25


@dataclass
class Parts:
    """Everything one epoch needs, built once by the trainer."""

    model: nn.Module
    task: TrainingTask
    optimizer: torch.optim.Optimizer | None
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    scaler: torch.amp.GradScaler
    device: torch.device
    amp_dtype: torch.dtype | None  # autocast dtype, None = full precision
    batch_size: int
    batches_per_epoch: int  # `train_batches` of the training set, counted once per run
    shuffle_generator: torch.Generator
    augment_generator: torch.Generator
    tta: str = "none"  # evaluation only: see engine.recipes.tta
    bn_adapt: bool = False  # evaluation only: see engine.recipes.batchnorm
    lookahead: Lookahead | None = None  # engine.recipes.lookahead, stepped after each step
    # One run over several processes (engine.trainer.distributed): this rank's place, and
    # the DistributedDataParallel wrapper that trains `model`; None for a single process.
    dist: Any = None
    train_model: nn.Module | None = None


@dataclass
class TrainResult:
    """Outcome of a training epoch; `diverged` names the batch where the loss went non-finite."""

    loss: float
    acc: float | None
    seconds: float
    images: int
    diverged: str | None = None


# batch, num_batches, running epoch loss, images/s, this batch's own loss
ProgressFn = Callable[[int, int, float, float, float], None]


def train_batches(
    num_images: int, batch_size: int, max_batches: int | None, min_last: int = 2
) -> int:
    """Batches per epoch; a trailing batch of fewer than `min_last` images is dropped
    (BatchNorm cannot use one image; several processes need `min_last` = 2 per process)."""
    count = num_images // batch_size
    remainder = num_images % batch_size
    if remainder >= min_last or (remainder and count == 0):
        count += 1
    return min(count, max_batches) if max_batches else count


def train_epoch(
    parts: Parts,
    x: torch.Tensor,
    y: torch.Tensor,
    on_progress: ProgressFn,
    should_stop: Callable[[], bool],
) -> TrainResult | None:
    """Train `parts.batches_per_epoch` batches of one seeded permutation of (x, y); None
    when stopped by `should_stop`.

    (x, y) is the training set, or a pool grown from it by pseudo-labels: either way the
    epoch keeps the step count the learning-rate schedule was planned for.
    """
    parts.model.train()
    n = x.shape[0]
    num_batches = parts.batches_per_epoch
    order = _order(n, num_batches * parts.batch_size, parts.shuffle_generator).to(x.device)
    loss_sum = torch.zeros((), device=parts.device, dtype=torch.float64)
    correct = torch.zeros((), device=parts.device, dtype=torch.int64)
    seen, last_report, start = 0, 0.0, time.perf_counter()
    ranks = parts.dist.world_size if parts.dist is not None else 1
    for batch in range(1, num_batches + 1):
        if parts.dist is None and should_stop():
            return None
        if parts.dist is not None:  # every rank stops (or diverges) at the same batch
            stop, bad = parts.dist.should_stop(batch, should_stop(), loss_sum)
            if stop:
                return None
            if bad:
                return _diverged(math.nan, seen, time.perf_counter() - start, batch, num_batches)
        index = order[(batch - 1) * parts.batch_size : batch * parts.batch_size]
        local = index if parts.dist is None else parts.dist.shard(index)
        inputs, targets = parts.task.prepare(
            *batch_to(parts.device, x[local], y[local]), parts.augment_generator
        )
        weight = 1.0 if parts.dist is None else parts.dist.loss_weight(local.numel(), index.numel())
        loss, outputs = _step(parts, inputs, targets, weight)
        loss_sum += loss.detach().double() * local.numel()
        correct += parts.task.correct(outputs.detach(), targets)
        seen += local.numel()
        now = time.perf_counter()
        if batch in (1, num_batches) or now - last_report >= PROGRESS_INTERVAL:
            last_report = now
            running = loss_sum.item() / seen
            if not math.isfinite(running) and parts.dist is None:
                return _diverged(loss_sum.item() / seen, seen, now - start, batch, num_batches)
            ips = seen * ranks / max(now - start, 1e-9)
            on_progress(batch, num_batches, running, ips, float(loss.detach()))
    seconds = time.perf_counter() - start
    if parts.dist is not None:  # the epoch's figures over every rank's images
        loss_sum, correct, total = parts.dist.sum(loss_sum, correct, torch.tensor(seen))
        seen = int(total.item())
    acc = correct.item() / seen if parts.task.name == "classify" and seen else None
    return TrainResult(loss_sum.item() / max(seen, 1), acc, seconds, seen)


def _order(n: int, needed: int, generator: torch.Generator) -> torch.Tensor:
    """Seeded permutations of range(n), concatenated until they cover `needed` slots: one
    permutation when the epoch fits the pool (as before), k when each image is drawn k times
    (`crops_per_image`)."""
    repeats = max(1, math.ceil(needed / max(n, 1)))
    return torch.cat([torch.randperm(n, generator=generator) for _ in range(repeats)])


def _diverged(loss: float, seen: int, seconds: float, batch: int, batches: int) -> TrainResult:
    where = f"batch {batch}/{batches}"
    return TrainResult(loss, None, seconds, seen, diverged=where)


def _step(parts: Parts, inputs: torch.Tensor, targets: torch.Tensor, weight: float = 1.0):
    """One optimiser step (with loss scaling under CUDA AMP); returns (loss, outputs).
    `weight` scales the loss that is differentiated (a rank's share of a global batch)."""
    model = parts.train_model if parts.train_model is not None else parts.model
    with autocast(parts.device, parts.amp_dtype):
        outputs = model(inputs)
        loss = parts.task.train_loss(outputs, targets)
    assert parts.optimizer is not None
    parts.optimizer.zero_grad(set_to_none=True)
    parts.scaler.scale(loss if weight == 1.0 else loss * weight).backward()
    parts.scaler.step(parts.optimizer)
    parts.scaler.update()
    if parts.scheduler is not None:
        parts.scheduler.step()
        if parts.lookahead is not None:
            parts.lookahead.step(parts.model, parts.scheduler.last_epoch)
    return loss, outputs
