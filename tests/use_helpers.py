"""Small trained runs for the `engine.use` tests: a class-folder set of drawn shapes that a
tiny conv net learns in half a second (so predictions vary across classes and agreement
with a confusion matrix means something), and a tiny dehazing run on `haze_synth`."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from engine.trainer import TrainConfig
from engine.trainer.loop import Trainer

CLASSES = ("circle", "square", "triangle")
SAVED_SIZE = 40  # files are larger than the runs' 16 px, so decoding resizes


@contextmanager
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def draw_shape(kind: str, rng: np.random.Generator, size: int = SAVED_SIZE) -> Image.Image:
    """A bright filled shape on a dark background, at a random place and scale."""
    background = tuple(int(v) for v in rng.integers(0, 90, 3))
    colour = tuple(int(v) for v in rng.integers(160, 256, 3))
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    r = int(rng.integers(size // 5, size // 3))
    cx, cy = (int(v) for v in rng.integers(r + 1, size - r - 1, 2))
    if kind == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif kind == "square":
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=colour)
    else:
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    return image


def write_shape_folder(root: Path, per_class: int = 60, classes=CLASSES, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for kind in classes:
        (root / kind).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            draw_shape(kind, rng).save(root / kind / f"{kind}{i:03d}.png")
    return root


def folder_config(data_root: Path, **changes) -> TrainConfig:
    base = TrainConfig(
        dataset="folder",
        data_root=str(data_root),
        image_size=16,
        model="conv",
        model_options={"widths": [8, 16]},
        epochs=4,
        batch_size=16,
        lr=3e-3,
        device="cpu",
    )
    return base.replace(**changes)


def dehaze_config(**changes) -> TrainConfig:
    base = TrainConfig(
        dataset="haze_synth",
        image_size=16,
        model="dehaze_conv",
        epochs=2,
        batch_size=16,
        device="cpu",
        max_train_batches=4,
    )
    return base.replace(**changes)


def train(config: TrainConfig, runs_dir: Path) -> str:
    """Train to the end (one torch thread); the run id."""
    with one_torch_thread():
        trainer = Trainer(config, runs_dir=runs_dir)
        status = trainer.run()
    assert status == "completed", trainer.error
    return trainer.run_id
