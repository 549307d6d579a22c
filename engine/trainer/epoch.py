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

import torch
from torch import nn

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


def train_batches(num_images: int, batch_size: int, max_batches: int | None) -> int:
    """Batches per epoch; a trailing batch of one image is dropped (BatchNorm cannot use it)."""
    count = num_images // batch_size
    remainder = num_images % batch_size
    if remainder > 1 or (remainder == 1 and count == 0):
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
    order = torch.randperm(n, generator=parts.shuffle_generator).to(x.device)
    loss_sum = torch.zeros((), device=parts.device, dtype=torch.float64)
    correct = torch.zeros((), device=parts.device, dtype=torch.int64)
    seen, last_report, start = 0, 0.0, time.perf_counter()
    for batch in range(1, num_batches + 1):
        if should_stop():
            return None
        index = order[(batch - 1) * parts.batch_size : batch * parts.batch_size]
        inputs, targets = parts.task.prepare(
            *batch_to(parts.device, x[index], y[index]), parts.augment_generator
        )
        loss, outputs = _step(parts, inputs, targets)
        loss_sum += loss.detach().double() * index.numel()
        correct += parts.task.correct(outputs.detach(), targets)
        seen += index.numel()
        now = time.perf_counter()
        if batch in (1, num_batches) or now - last_report >= PROGRESS_INTERVAL:
            last_report = now
            running = loss_sum.item() / seen
            if not math.isfinite(running):
                return _diverged(loss_sum.item() / seen, seen, now - start, batch, num_batches)
            ips = seen / max(now - start, 1e-9)
            on_progress(batch, num_batches, running, ips, float(loss.detach()))
    seconds = time.perf_counter() - start
    acc = correct.item() / seen if parts.task.name == "classify" and seen else None
    return TrainResult(loss_sum.item() / max(seen, 1), acc, seconds, seen)


def _diverged(loss: float, seen: int, seconds: float, batch: int, batches: int) -> TrainResult:
    where = f"batch {batch}/{batches}"
    return TrainResult(loss, None, seconds, seen, diverged=where)


def _step(parts: Parts, inputs: torch.Tensor, targets: torch.Tensor):
    """One optimiser step (with loss scaling under CUDA AMP); returns (loss, outputs)."""
    with autocast(parts.device, parts.amp_dtype):
        outputs = parts.model(inputs)
        loss = parts.task.train_loss(outputs, targets)
    assert parts.optimizer is not None
    parts.optimizer.zero_grad(set_to_none=True)
    parts.scaler.scale(loss).backward()
    parts.scaler.step(parts.optimizer)
    parts.scaler.update()
    if parts.scheduler is not None:
        parts.scheduler.step()
    return loss, outputs
