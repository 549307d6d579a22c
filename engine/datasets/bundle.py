"""What a loaded data set hands to the trainer.

A bundle holds decoded uint8 tensors only: normalisation and augmentation happen later, on
whole batches (see `augment.py`), so one decode serves every run and every device.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from engine.datasets.listing import shown_name
from engine.trainer.config import TASKS

# Mean/std accumulate over chunks of this many images so a 60k-image set never needs a
# float copy of itself in memory.
_STATS_CHUNK = 4096


def _empty_images(image_size: int) -> torch.Tensor:
    return torch.empty((0, 3, image_size, image_size), dtype=torch.uint8)


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images, in [0, 1] units.

    Summed per chunk (float32 within a chunk, float64 across chunks), so large sets stay
    cheap in memory and time while the result stays accurate to ~1e-6.
    """
    if images.ndim != 4 or images.shape[0] == 0:
        return (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
    channels = images.shape[1]
    total = torch.zeros(channels, dtype=torch.float64)
    total_sq = torch.zeros(channels, dtype=torch.float64)
    count = 0
    for start in range(0, images.shape[0], _STATS_CHUNK):
        chunk = images[start : start + _STATS_CHUNK].to(torch.float32) / 255.0
        total += chunk.sum(dim=(0, 2, 3)).double()
        total_sq += (chunk * chunk).sum(dim=(0, 2, 3)).double()
        count += chunk.shape[0] * chunk.shape[2] * chunk.shape[3]
    mean = total / count
    var = (total_sq / count - mean * mean).clamp_min(0.0)
    std = var.sqrt().clamp_min(1e-3)  # a flat channel must not divide by zero later
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


@dataclass
class DatasetBundle:
    """A decoded data set: uint8 images split into train / val / test.

    For `task == "classify"` the `*_y` tensors are int64 labels indexing `classes`; for
    `task == "dehaze"` they are the uint8 clear images matching `*_x` (the hazy inputs).
    `mean`/`std` are the per-channel statistics of `train_x` in [0, 1] units, used by
    `to_float(..., "dataset")`; they are computed when not given.
    """

    name: str
    task: str
    classes: list[str]
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    test_names: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    source: str = ""
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    train_names: list[str] = field(default_factory=list)
    val_names: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # loaded, but worth a word

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, not {self.task!r}")
        # Class names and skipped files are shown and saved: non-UTF-8 bytes escaped.
        self.classes = [shown_name(name) for name in self.classes]
        self.skipped = [(shown_name(name), reason) for name, reason in self.skipped]
        if self.mean is None or self.std is None:
            self.mean, self.std = channel_stats(self.train_x)

    @property
    def image_size(self) -> int:
        """Side length S of the (N, 3, S, S) images."""
        return int(self.train_x.shape[-1])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def split_sizes(self) -> dict[str, int]:
        """Number of images per split: {"train": n, "val": n, "test": n}."""
        return {
            "train": int(self.train_x.shape[0]),
            "val": int(self.val_x.shape[0]),
            "test": int(self.test_x.shape[0]),
        }

    def class_counts(self) -> dict[str, dict[str, int]]:
        """Images per class per split ({"bus": {"train": 163, "val": 0, "test": 55}, …}).

        For a dehazing set the single row is keyed "pairs".
        """
        if self.task != "classify":
            return {"pairs": self.split_sizes()}
        counts: dict[str, dict[str, int]] = {}
        splits = {"train": self.train_y, "val": self.val_y, "test": self.test_y}
        for index, name in enumerate(self.classes):
            counts[name] = {split: int((y == index).sum()) for split, y in splits.items()}
        return counts
