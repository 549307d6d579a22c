"""Evaluation passes and the metric row each epoch publishes (and metrics.jsonl keeps)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch

from engine.recipes import batchnorm_adapted, has_batchnorm, tta_logits, tta_outputs
from engine.trainer.device import autocast, batch_to
from engine.trainer.epoch import Parts, TrainResult
from engine.trainer.metrics import psnr, ssim
from engine.trainer.setup import DeviceData

BULKY_KEYS = ("per_class_acc", "confusion")  # kept for the test set only, last in the row


@torch.no_grad()
def evaluate(
    parts: Parts, x: torch.Tensor, y: torch.Tensor, should_stop: Callable[[], bool]
) -> dict[str, Any] | None:
    """Metrics of the model on (x, y) in fixed-size batches; None when stopped."""
    parts.model.eval()
    if parts.bn_adapt and has_batchnorm(parts.model):
        # Re-estimated on these (unlabelled) images for this pass only; training resumes
        # with the training statistics, and checkpoints keep them.
        with batchnorm_adapted(parts.model, _input_batches(parts, x, y)):
            return _evaluate_batches(parts, x, y, should_stop)
    return _evaluate_batches(parts, x, y, should_stop)


def _input_batches(parts: Parts, x: torch.Tensor, y: torch.Tensor):
    for start in range(0, x.shape[0], parts.batch_size):
        batch = batch_to(parts.device, *_slice(x, y, start, parts.batch_size))
        inputs, _ = parts.task.prepare(*batch, None)
        with autocast(parts.device, parts.amp_dtype):
            yield inputs


def _slice(x: torch.Tensor, y: torch.Tensor, start: int, size: int):
    return x[start : start + size], y[start : start + size]


def _forward(parts: Parts, inputs: torch.Tensor) -> torch.Tensor:
    """The model's evaluation output, averaged over test-time views when `tta` asks."""
    if parts.task.name == "classify":
        return tta_logits(parts.model, inputs, parts.tta)
    return tta_outputs(parts.model, inputs, parts.tta)


def _evaluate_batches(
    parts: Parts, x: torch.Tensor, y: torch.Tensor, should_stop: Callable[[], bool]
) -> dict[str, Any] | None:
    accumulator = parts.task.new_accumulator()
    for start in range(0, x.shape[0], parts.batch_size):
        if should_stop():
            return None
        batch = batch_to(parts.device, *_slice(x, y, start, parts.batch_size))
        inputs, targets = parts.task.prepare(*batch, None)
        with autocast(parts.device, parts.amp_dtype):
            outputs = _forward(parts, inputs)
        accumulator.add(outputs.float(), targets)
    return accumulator.result()


@torch.no_grad()
def predict(parts: Parts, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Model outputs for a few images (for sample pictures): (outputs, targets) as floats."""
    parts.model.eval()
    inputs, targets = parts.task.prepare(*batch_to(parts.device, x, y), None)
    with autocast(parts.device, parts.amp_dtype):
        outputs = parts.model(inputs)
    return outputs.float(), targets


def prefixed(split: str, scores: dict[str, Any]) -> dict[str, Any]:
    """{loss, acc, …} → {test_loss, test_acc, …}; per-class results only for the test set."""
    row = {}
    for key, value in scores.items():
        if key in BULKY_KEYS:
            if split == "test":
                row[key] = value
        else:
            row[f"{split}_{key}"] = value
    return row


def epoch_metrics(
    parts: Parts,
    data: DeviceData,
    epoch: int,
    result: TrainResult,
    should_stop: Callable[[], bool],
) -> dict[str, Any] | None:
    """The row for a trained epoch: train, val (if any) and test metrics, lr and speed."""
    row: dict[str, Any] = {"epoch": epoch, "train_loss": result.loss}
    if result.acc is not None:
        row["train_acc"] = result.acc
    for split in ("val", "test"):
        x, y = getattr(data, split)
        if split == "val" and len(x) == 0:
            continue
        scores = evaluate(parts, x, y, should_stop)
        if scores is None:
            return None
        row.update(prefixed(split, scores))
    row["lr"] = parts.optimizer.param_groups[0]["lr"] if parts.optimizer else None
    row["seconds"] = round(result.seconds, 4)
    row["images_per_second"] = round(result.images / max(result.seconds, 1e-9), 1)
    for key in BULKY_KEYS:
        if key in row:
            row[key] = row.pop(key)
    return row


def evaluation_only_metrics(
    parts: Parts, data: DeviceData, should_stop: Callable[[], bool]
) -> dict[str, Any] | None:
    """The single row of a training-free model: test metrics as epoch 1."""
    began = time.perf_counter()
    scores = evaluate(parts, *data.test, should_stop)
    if scores is None:
        return None
    seconds = time.perf_counter() - began
    return {
        "epoch": 1,
        **prefixed("test", scores),
        "lr": None,
        "seconds": round(seconds, 4),
        "images_per_second": round(len(data.test[0]) / max(seconds, 1e-9), 1),
    }


def losses_finite(row: dict[str, Any]) -> bool:
    """False when the train or test loss is NaN or infinite (the run diverged)."""
    values = (row.get("train_loss"), row.get("test_loss"))
    return all(v is None or math.isfinite(v) for v in values)


@torch.no_grad()
def input_baseline(data: DeviceData, batch_size: int = 64) -> tuple[float, float]:
    """Mean (PSNR, SSIM) of the test set's hazy inputs against their clear images.

    This is what returning the input unchanged scores, so a dehazing model that has learned
    anything must beat it; the log states it once so every run's curve can be read against it.
    """
    hazy, clear = data.test
    total_psnr = total_ssim = 0.0
    for start in range(0, hazy.shape[0], batch_size):
        x = hazy[start : start + batch_size].float() / 255
        y = clear[start : start + batch_size].float() / 255
        total_psnr += psnr(x, y).sum().item()
        total_ssim += ssim(x, y).sum().item()
    count = max(hazy.shape[0], 1)
    return total_psnr / count, total_ssim / count


def input_baseline_text(data: DeviceData) -> str:
    """The log line stating `input_baseline` for a dehazing run."""
    if len(data.test[0]) == 0:
        return "no test images: no hazy-input baseline"
    value_psnr, value_ssim = input_baseline(data)
    return (
        f"hazy test images as they are: PSNR {value_psnr:.2f} dB, SSIM {value_ssim:.3f} "
        "(the score to beat)"
    )
