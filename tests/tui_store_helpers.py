"""Runs on disk for the Runs / Run detail / Compare tests, without training.

`write_run` writes a run folder through the engine's own `RunWriter` from real trainer
events, so the files are exactly what a training run leaves behind — only the numbers are
made up. That keeps these tests fast (milliseconds per run) and independent of the trainer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from engine.events import EpochEnd, RunFinished, RunStarted, Samples
from engine.runs import RunWriter, SummaryTracker
from engine.trainer.config import TrainConfig

CLASSES = ["circle", "square", "triangle"]


def classify_rows(epochs: int, *, acc_step: float = 0.1) -> list[dict[str, Any]]:
    """Metric rows of a classification run whose accuracy rises by `acc_step` per epoch."""
    rows = []
    for epoch in range(1, epochs + 1):
        confusion = [[5, 1, 0], [0, 4, 2], [1, 0, 5]]
        rows.append(
            {
                "epoch": epoch,
                "train_loss": 1.0 / epoch,
                "train_acc": min(1.0, 0.4 + acc_step * epoch),
                "test_loss": 1.2 / epoch,
                "test_acc": min(1.0, 0.3 + acc_step * epoch),
                "lr": 1e-3,
                "seconds": 2.0,
                "images_per_second": 500.0,
                "per_class_acc": [5 / 6, 4 / 6, 5 / 6],
                "confusion": confusion,
            }
        )
    return rows


def dehaze_rows(epochs: int) -> list[dict[str, Any]]:
    return [
        {
            "epoch": epoch,
            "train_loss": 0.1 / epoch,
            "test_loss": 0.12 / epoch,
            "test_psnr": 15.0 + epoch,
            "test_ssim": 0.5 + epoch / 20,
            "lr": 1e-3,
            "seconds": 3.0,
            "images_per_second": 50.0,
        }
        for epoch in range(1, epochs + 1)
    ]


def triptych_png(path: Path, size: int = 8) -> Path:
    """A small hazy | output | clear PNG (grey | light grey | blue) like the trainer's."""
    panels = [np.full((size, size, 3), value, np.uint8) for value in (128, 200, 0)]
    panels[2][..., 2] = 255
    gap = np.full((size, 2, 3), 255, np.uint8)
    row = np.concatenate([panels[0], gap, panels[1], gap, panels[2]], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(row).save(path)
    return path


def write_run(
    runs_dir: Path,
    run_id: str,
    *,
    status: str = "completed",
    task: str = "classify",
    epochs: int = 2,
    error: str | None = None,
    finish: bool = True,
    samples: int = 0,
    **config: Any,
) -> Path:
    """Write one run folder through `RunWriter`; `config` overrides TrainConfig fields."""
    defaults = {"dataset": "dehaze" if task == "dehaze" else "shapes", "epochs": epochs}
    resolved = TrainConfig(**{**defaults, **config}).to_dict()
    run_dir = Path(runs_dir) / run_id
    tracker = SummaryTracker(run_id, resolved)
    writer = RunWriter(run_dir, tracker)
    classes = CLASSES if task == "classify" else []
    events: list[Any] = [
        RunStarted(run_id, resolved, str(run_dir), task, "cpu", 1234, classes, 30, 12, epochs)
    ]
    rows = classify_rows(epochs) if task == "classify" else dehaze_rows(epochs)
    events += [EpochEnd(run_id, row["epoch"], row) for row in rows]
    if samples:
        paths = [
            str(triptych_png(run_dir / "samples" / f"epoch{epochs:03d}_{i}_img{i}.png"))
            for i in range(samples)
        ]
        events.append(Samples(run_id, epochs, paths))
    for event in events:
        tracker.apply(event)
        writer(event)
    if finish:
        writer(RunFinished(run_id, status, error, tracker.finish(status, error)))
    return run_dir
