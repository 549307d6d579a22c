"""`tensorboard`: cnnlab runs as TensorBoard event files, so they open in TensorBoard.

Per run, `OUT/<run id>/` gets: every numeric metric per epoch (`loss/train`, `acc/test`,
`psnr/val`, `per_class_acc/<class>`, `lr`, `time/…`), the running training loss per batch
(`loss/train_batch`, from `batches.jsonl`, recorded since cnnlab wrote it), the config as
hyper-parameters with the final metrics, and the run's pictures: dehazing samples per epoch
and, when `cnnlab explain` was run, its error gallery, filters and feature maps. Written
through the `tensorboard` package (the optional extra `cnnlab[tensorboard]`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from engine.errors import CnnlabError
from engine.runs import RunRecord
from engine.runs.compare import flatten_config
from engine.runs.files import read_json_lines
from engine.runs.writer import BATCHES_FILE
from engine.use.records import read_explanation

EVENT_PREFIX = "events.out.tfevents."
TIME_KEYS = {"seconds": "time/epoch_seconds", "images_per_second": "time/images_per_second"}


@dataclass
class TensorboardRun:
    """What was written for one run."""

    run_id: str
    folder: Path
    scalars: int = 0
    batch_points: int = 0
    images: int = 0
    notes: list[str] = field(default_factory=list)


def summary_writer(folder: Path):
    """A `SummaryWriter` on `folder`; `CnnlabError` naming the extra when it is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise CnnlabError(
            "the tensorboard package is not installed: pip install 'cnnlab[tensorboard]'"
        ) from exc
    return SummaryWriter(log_dir=str(folder))


def write_tensorboard(records: list[RunRecord], out_dir: Path | str) -> list[TensorboardRun]:
    """One event folder per run under `out_dir` (earlier cnnlab event files there are
    replaced, so an export done twice does not draw every curve twice)."""
    out = Path(out_dir)
    return [_write_run(record, out / record.run_id) for record in records]


def metric_tag(key: str) -> str | None:
    """'test_acc' → 'acc/test' (train, val and test of one metric share a chart)."""
    if key == "epoch":
        return None
    if key in TIME_KEYS:
        return TIME_KEYS[key]
    split, _, metric = key.partition("_")
    if split in ("train", "val", "test") and metric:
        return f"{metric}/{split}"
    return key


def _write_run(record: RunRecord, folder: Path) -> TensorboardRun:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(f"{EVENT_PREFIX}*"):
        old.unlink()
    done = TensorboardRun(record.run_id, folder)
    writer = summary_writer(folder)
    try:
        _epochs(writer, record, done)
        _batches(writer, record, done)
        _pictures(writer, record, done)
        _hyperparameters(writer, record)
    finally:
        writer.close()
    return done


def _start_time(record: RunRecord) -> float | None:
    try:
        return datetime.fromisoformat(str(record.summary.get("started_at"))).timestamp()
    except ValueError:
        return None


def _epochs(writer, record: RunRecord, done: TensorboardRun) -> None:
    clock = _start_time(record)
    classes = record.summary.get("classes") or []
    for row in record.metrics:
        epoch = row.get("epoch")
        if not isinstance(epoch, int):
            continue
        if clock is not None and isinstance(row.get("seconds"), (int, float)):
            clock += row["seconds"]
        for key, value in row.items():
            tag = metric_tag(key)
            if tag and _number(value):
                writer.add_scalar(tag, value, epoch, walltime=clock)
                done.scalars += 1
        for i, value in enumerate(row.get("per_class_acc") or []):
            if _number(value):
                name = classes[i] if i < len(classes) else str(i)
                writer.add_scalar(f"per_class_acc/{name}", value, epoch, walltime=clock)
                done.scalars += 1


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _batches(writer, record: RunRecord, done: TensorboardRun) -> None:
    path = record.path / BATCHES_FILE
    if not path.exists():
        done.notes.append("no per-batch record (the run predates batches.jsonl)")
        return
    rows, problem = read_json_lines(path)
    if problem:
        done.notes.append(f"per-batch record cut short: {problem}")
    for row in rows:
        if isinstance(row.get("step"), int) and _number(row.get("loss")):
            writer.add_scalar("loss/train_batch", row["loss"], row["step"])
            done.batch_points += 1


def _add_picture(writer, tag: str, path: Path, step: int, done: TensorboardRun) -> None:
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
    except OSError:
        done.notes.append(f"picture {path.name} unreadable: left out")
        return
    writer.add_image(tag, pixels, step, dataformats="HWC")
    done.images += 1


def _pictures(writer, record: RunRecord, done: TensorboardRun) -> None:
    for path in sorted((record.path / "samples").glob("epoch*_*.png")):
        epoch_text, _, name = path.stem.partition("_")
        digits = epoch_text.removeprefix("epoch")
        step = int(digits) if digits.isdigit() else 0
        _add_picture(writer, f"samples/{name}", path, step, done)
    explanation = read_explanation(record.path)
    if explanation is None:
        return
    step = int(explanation.get("epoch") or 0)
    for entry in explanation.get("images", []):
        _add_picture(
            writer, f"errors/{entry.get('rank', 0):02d}", record.path / entry["picture"], step, done
        )
    if explanation.get("filters"):
        _add_picture(writer, "filters/first_conv", record.path / explanation["filters"], step, done)
    for entry in explanation.get("feature_maps", []):
        _add_picture(
            writer, f"feature_maps/{entry['block']}", record.path / entry["picture"], step, done
        )


def _hyperparameters(writer, record: RunRecord) -> None:
    """The config as hyper-parameters, the final metrics as their results."""
    from torch.utils.tensorboard.summary import hparams

    values = {}
    for key, value in flatten_config(record.config).items():
        if value is None:
            values[key] = "none"
        elif isinstance(value, (bool, int, float, str)):
            values[key] = value
        else:
            values[key] = str(value)
    final = record.summary.get("final") or {}
    metrics = {f"hparam/{k}": v for k, v in final.items() if k != "epoch" and _number(v)}
    for summary in hparams(values, metrics):
        writer.file_writer.add_summary(summary)
    for key, value in metrics.items():
        writer.add_scalar(key, value)
