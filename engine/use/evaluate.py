"""`evaluate`: a trained run scored on its own data or on another folder of the same task,
by the trainer's own evaluation pass (same batches, TTA, BN adaptation, precision), so the
run's own test split gives back its final test figures exactly.

Each evaluation is kept in the run folder as `evaluations/<time>-<name>.json` (atomic).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from engine.errors import DatasetError
from engine.runs.files import read_json, write_json_atomic
from engine.trainer.device import device_label
from engine.trainer.evaluation import evaluate
from engine.use.loading import LoadedRun
from engine.use.other_data import evaluation_data
from engine.use.run_folder import inside_run

EVALUATIONS_DIR = "evaluations"
SKIPPED_KEPT = 20  # skipped files listed in the record (the count is always exact)


def evaluate_run(
    loaded: LoadedRun,
    *,
    data_root: Path | str | None = None,
    split: str = "test",
    progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, Any]:
    """The evaluation record (not yet saved): where, what, and the scores."""
    data = evaluation_data(loaded, data_root, split, progress)
    if len(data.x) == 0:
        raise DatasetError(f"no usable images in {data.source} ({split} split)")
    scores = evaluate(loaded.parts(), data.x, data.y, lambda: False)
    assert scores is not None  # never stopped
    record: dict[str, Any] = {
        "name": evaluation_name(loaded, data_root, split),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run_id": loaded.run_id,
        "checkpoint": loaded.checkpoint,
        "epoch": loaded.epoch,
        "task": loaded.task,
        "data_root": str(data_root) if data_root is not None else None,
        "source": data.source,
        "split": split,
        "num_images": len(data.x),
        "device": device_label(loaded.device),
        "preprocessing": loaded.preprocessing.to_dict(),
        "metrics": scores,
        "skipped_count": len(data.skipped),
        "skipped": [{"path": p, "reason": r} for p, r in data.skipped[:SKIPPED_KEPT]],
        "notes": list(loaded.notes),
    }
    if loaded.task == "classify":
        record["classes"] = list(loaded.classes)
        record["classes_present"] = data.classes_present
        record["classes_missing"] = data.classes_missing
    return record


def evaluation_name(loaded: LoadedRun, data_root: Path | str | None, split: str) -> str:
    """'vehicles-test' for the run's own data, '<folder name>-all' for another folder."""
    base = loaded.config.dataset if data_root is None else Path(data_root).expanduser().name
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", base or "data").strip("-.") or "data"
    return f"{slug[:40]}-{split}"


def save_evaluation(run_dir: Path, record: dict[str, Any]) -> Path:
    """Write `record` to `run_dir/evaluations/<time>-<name>.json` atomically; its path."""
    folder = Path(run_dir) / EVALUATIONS_DIR
    folder.mkdir(exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = folder / f"{stamp}-{record['name']}.json"
    number = 2
    while path.exists():
        path = folder / f"{stamp}-{record['name']}-{number}.json"
        number += 1
    write_json_atomic(inside_run(Path(run_dir), path), record)
    return path


def list_evaluations(run_dir: Path) -> list[dict[str, Any]]:
    """The run's evaluations, newest first; an unreadable file becomes an entry with
    `problem` set (never an exception), and `file` names each entry's file."""
    folder = Path(run_dir) / EVALUATIONS_DIR
    if not folder.is_dir():
        return []
    entries = []
    for path in sorted(folder.glob("*.json"), reverse=True):
        try:
            data = read_json(path)
            if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
                raise ValueError("not an evaluation record")
            entries.append({**data, "file": str(path)})
        except (OSError, ValueError) as exc:
            entries.append({"file": str(path), "name": path.stem, "problem": str(exc)})
    return entries


def headline(entry: dict[str, Any]) -> str:
    """One line: 'vehicles-test · 340 images · acc 68.8 % · balanced 64.1 %'."""
    if entry.get("problem"):
        return f"{entry.get('name')}: unreadable ({entry['problem']})"
    metrics = entry.get("metrics") or {}
    words = [str(entry.get("name")), f"{entry.get('num_images')} images"]
    for key, label in (("acc", "acc"), ("balanced_acc", "balanced")):
        if isinstance(metrics.get(key), (int, float)):
            words.append(f"{label} {100 * metrics[key]:.1f} %")
    if isinstance(metrics.get("psnr"), (int, float)):
        words.append(f"PSNR {metrics['psnr']:.2f} dB")
    if isinstance(metrics.get("ssim"), (int, float)):
        words.append(f"SSIM {metrics['ssim']:.3f}")
    if entry.get("classes_missing"):
        words.append(f"missing: {', '.join(map(str, entry['classes_missing']))}")
    return " · ".join(words)
