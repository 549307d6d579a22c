"""Builds `summary.json` from a run's events.

The trainer owns one `SummaryTracker` per run and feeds it every event; the run writer
writes what it holds to disk and `RunFinished.summary` is its final state, so the two can
never disagree about what "best" or "final" means.
"""

from __future__ import annotations

import copy
import os
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from engine.events import EpochEnd, Log, RunFinished, RunStarted, Samples

KEY_METRICS = {
    "classify": ("test_acc", "test_loss", "train_acc", "train_loss"),
    "dehaze": ("test_psnr", "test_ssim", "test_loss", "train_loss"),
}


def primary_metric(task: str | None) -> str:
    """The metric a run is judged by (higher is better): accuracy or PSNR."""
    return "test_psnr" if task == "dehaze" else "test_acc"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _pick(row: dict[str, Any], task: str | None) -> dict[str, Any]:
    keys = KEY_METRICS.get(task or "classify", KEY_METRICS["classify"])
    picked = {k: row[k] for k in keys if k in row}
    for key in ("val_acc", "val_loss", "val_psnr", "val_ssim"):
        if key in row:
            picked[key] = row[key]
    return picked


def best_score(row: dict[str, Any], task: str | None) -> float:
    """What 'best' maximises: the validation metric when there is one, else the test one."""
    metric = primary_metric(task)
    value = row.get(metric.replace("test_", "val_"), row.get(metric))
    return float(value) if isinstance(value, (int, float)) and value == value else float("-inf")


class SummaryTracker:
    """Keeps the summary of one run up to date as events arrive."""

    def __init__(
        self,
        run_id: str,
        config: dict[str, Any],
        task: str | None = None,
        started_at: str | None = None,
    ):
        """`started_at`: when the run was first started (a resumed run keeps its start)."""
        import torch  # a tracker lives beside a training run, which has torch loaded anyway

        self._rows: list[dict[str, Any]] = []
        self._run_dir: Path | None = None
        self._summary: dict[str, Any] = {
            "run_id": run_id,
            "name": config.get("name", ""),
            "status": "running",
            "task": task,
            "dataset": config.get("dataset"),
            "model": config.get("model"),
            "preset": config.get("preset"),
            "config": copy.deepcopy(config),
            "epochs": config.get("epochs"),
            "epochs_completed": 0,
            "final": {},
            "best": {},
            "train_seconds": 0.0,
            "images_per_second": None,
            "params": None,
            "device": None,
            "torch_version": torch.__version__,
            "error": None,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": started_at or now_iso(),
            "updated_at": now_iso(),
            "finished_at": None,
        }

    @property
    def rows(self) -> list[dict[str, Any]]:
        return list(self._rows)

    def summary(self) -> dict[str, Any]:
        """A deep copy of the current summary."""
        return copy.deepcopy(self._summary)

    def apply(self, event: object) -> None:
        """Fold one trainer event into the summary."""
        if isinstance(event, RunStarted):
            self._started(event)
        elif isinstance(event, EpochEnd):
            self._rows.append(dict(event.metrics))
            self._recompute()
        elif isinstance(event, Samples):
            self._summary["samples"] = [self._relative(p) for p in event.paths]
        elif isinstance(event, RunFinished):
            self._summary.update(copy.deepcopy(event.summary))
        elif isinstance(event, Log):
            return
        self._summary["updated_at"] = now_iso()

    def finish(self, status: str, error: str | None) -> dict[str, Any]:
        """Mark the run as ended and return the final summary."""
        self._summary.update(status=status, error=error, finished_at=now_iso())
        self._summary["updated_at"] = self._summary["finished_at"]
        return self.summary()

    def _started(self, event: RunStarted) -> None:
        self._run_dir = Path(event.run_dir)
        self._summary.update(
            task=event.task,
            config=copy.deepcopy(event.config),
            epochs=event.epochs,
            params=event.params,
            device=event.device,
            num_train=event.num_train,
            num_test=event.num_test,
            status="running",
            error=None,
            finished_at=None,
            pid=os.getpid(),
            host=socket.gethostname(),
        )
        if event.task == "classify":
            self._summary["classes"] = list(event.classes)
        self._rows = [dict(r) for r in event.history]
        self._recompute()

    def _relative(self, path: str) -> str:
        if self._run_dir is not None:
            try:
                return Path(path).relative_to(self._run_dir).as_posix()
            except ValueError:
                pass
        return str(path)

    def _recompute(self) -> None:
        summary, rows, task = self._summary, self._rows, self._summary["task"]
        summary["epochs_completed"] = len(rows)
        if not rows:
            return
        last = rows[-1]
        summary["final"] = _pick(last, task)
        best_row = max(rows, key=lambda r: best_score(r, task))
        summary["best"] = {"epoch": best_row.get("epoch"), **_pick(best_row, task)}
        seconds = sum(float(r.get("seconds") or 0.0) for r in rows)
        images = sum(
            float(r.get("seconds") or 0.0) * float(r.get("images_per_second") or 0.0) for r in rows
        )
        summary["train_seconds"] = round(seconds, 3)
        summary["images_per_second"] = round(images / seconds, 1) if seconds > 0 else None
        for key in ("per_class_acc", "confusion"):
            if key in last:
                summary[key] = copy.deepcopy(last[key])
