"""What differs between classification and dehazing, behind one small interface.

The epoch code asks a task to turn uint8 batches into (inputs, targets), for the training
loss, for the number of correct predictions, and for an accumulator of evaluation metrics;
everything else in the loop is shared.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import torch
import torch.nn.functional as F

from engine.datasets.augment import augment_batch, augment_pair, to_float
from engine.recipes.crops import random_crop_pairs
from engine.recipes.lighting import relight
from engine.recipes.style import fourier_style
from engine.trainer.metrics import confusion_matrix, per_class_accuracy, psnr, ssim


class Accumulator(Protocol):
    def add(self, outputs: torch.Tensor, targets: torch.Tensor) -> None: ...
    def result(self) -> dict[str, Any]: ...


class TrainingTask(Protocol):
    name: str

    def prepare(
        self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor]: ...
    def train_loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor: ...
    def correct(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor: ...
    def new_accumulator(self) -> Accumulator: ...


class ClassifyTask:
    """Cross-entropy on normalised, augmented images; accuracy and a confusion matrix."""

    name = "classify"

    def __init__(
        self,
        num_classes: int,
        normalize: str,
        augmentation: str,
        mean: Sequence[float] | None,
        std: Sequence[float] | None,
        label_smoothing: float = 0.0,
        lighting: str = "none",
        fourier_style: float = 0.0,
        style_pool: torch.Tensor | None = None,
    ):
        self.num_classes = num_classes
        self.normalize, self.augmentation = normalize, augmentation
        self.mean, self.std = mean, std
        self.label_smoothing = label_smoothing
        self.lighting = lighting
        self.fourier_style = fourier_style
        self.style_pool = style_pool  # unlabelled target images (uint8) for `fourier_style`

    def prepare(self, x, y, generator):
        """uint8 batch → normalised float batch; augmented only when a generator is given
        (Fourier style and relighting act on [0, 1] values, so they come before
        normalisation)."""
        styled = self.fourier_style > 0 and self.style_pool is not None
        if generator is not None and styled:
            x = fourier_style(to_float(x, "none"), self.style_pool, self.fourier_style, generator)
        if generator is not None and self.lighting != "none":
            x = relight(to_float(x, "none"), self.lighting, generator)
        inputs = to_float(x, self.normalize, mean=self.mean, std=self.std)
        if generator is not None:
            inputs = augment_batch(inputs, self.augmentation, generator)
        return inputs, y

    def train_loss(self, outputs, targets):
        return F.cross_entropy(outputs.float(), targets, label_smoothing=self.label_smoothing)

    def correct(self, outputs, targets):
        return (outputs.argmax(dim=1) == targets).sum()

    def new_accumulator(self) -> _ClassifyAccumulator:
        return _ClassifyAccumulator(self.num_classes)


class _ClassifyAccumulator:
    def __init__(self, num_classes: int):
        self.num_classes = num_classes
        self.loss_sum = 0.0
        self.count = 0
        self.confusion: torch.Tensor | None = None

    def add(self, outputs, targets):
        loss = F.cross_entropy(outputs, targets, reduction="sum")
        self.loss_sum += loss.item()
        self.count += targets.numel()
        batch = confusion_matrix(outputs.argmax(dim=1), targets, self.num_classes).cpu()
        self.confusion = batch if self.confusion is None else self.confusion + batch

    def result(self) -> dict[str, Any]:
        confusion = self.confusion
        if confusion is None:
            confusion = torch.zeros(self.num_classes, self.num_classes, dtype=torch.int64)
        correct = int(confusion.diagonal().sum())
        per_class = per_class_accuracy(confusion)
        present = [value for value in per_class if value is not None]
        return {
            "loss": self.loss_sum / self.count if self.count else None,
            "acc": correct / self.count if self.count else None,
            # Mean of the per-class accuracies of the classes present: honest when the
            # split is imbalanced (the vehicles test set is 57 % cars).
            "balanced_acc": sum(present) / len(present) if present else None,
            "per_class_acc": per_class,
            "confusion": confusion.tolist(),
        }


class DehazeTask:
    """Mean squared error between output and clear image (both in [0, 1]); PSNR and SSIM."""

    name = "dehaze"

    def __init__(self, augmentation: str, train_crop: int | None = None):
        self.augmentation = augmentation
        self.train_crop = train_crop

    def prepare(self, x, y, generator):
        """Training batches (a generator given) are cropped to `train_crop` first, if set."""
        if generator is not None and self.train_crop is not None:
            x, y = random_crop_pairs(x, y, self.train_crop, generator)
        hazy, clear = to_float(x, "none"), to_float(y, "none")
        if generator is not None:
            hazy, clear = augment_pair(hazy, clear, self.augmentation, generator)
        return hazy, clear

    def train_loss(self, outputs, targets):
        return F.mse_loss(outputs.float(), targets)

    def correct(self, outputs, targets):
        return torch.zeros((), dtype=torch.int64, device=outputs.device)

    def new_accumulator(self) -> _DehazeAccumulator:
        return _DehazeAccumulator()


class _DehazeAccumulator:
    def __init__(self):
        self.sums = {"loss": 0.0, "psnr": 0.0, "ssim": 0.0}
        self.count = 0

    def add(self, outputs, targets):
        outputs = outputs.clamp(0, 1)
        n = targets.shape[0]
        self.sums["loss"] += F.mse_loss(outputs, targets).item() * n
        self.sums["psnr"] += psnr(outputs, targets).sum().item()
        self.sums["ssim"] += ssim(outputs, targets).sum().item()
        self.count += n

    def result(self) -> dict[str, Any]:
        if not self.count:
            return {key: None for key in self.sums}
        return {key: value / self.count for key, value in self.sums.items()}
