"""`evaluate`: a trained run scored on its own data or on another folder of the same task,
by the trainer's own evaluation pass (same batches, TTA, BN adaptation, precision), so the
run's own test split gives back its final test figures exactly.

Each evaluation is kept in the run folder as `evaluations/<time>-<name>.json` (atomic;
`engine.use.records`, which the torch-free readers use).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from engine.errors import DatasetError
from engine.trainer.device import device_label
from engine.trainer.evaluation import evaluate
from engine.use.loading import LoadedRun
from engine.use.other_data import evaluation_data
from engine.use.records import headline, list_evaluations, save_evaluation

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


__all__ = ["evaluate_run", "evaluation_name", "headline", "list_evaluations", "save_evaluation"]
