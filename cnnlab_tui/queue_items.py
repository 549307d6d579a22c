"""What the queue knows about each submitted job: a single run, or a sweep of runs.

Both fold engine events into plain state on the UI thread (`apply`), which the Live screen
and the queue table read. A sweep is one queue entry that runs its points one after another
(the engine's `SweepRunner`); while a point trains, the sweep shows that point's run —
curves, progress, log — and its row reads `sweep k/N`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.events import (
    FAILED_STATUSES,
    BatchProgress,
    EpochEnd,
    Log,
    RunFinished,
    RunStarted,
    Samples,
)
from engine.events import FINISHED_STATUSES as FINAL_STATUSES

# A sweep ends completed (every point has a completed run), incomplete or cancelled.
SWEEP_STATUSES = ("completed", "incomplete", "cancelled", "failed")
ACTIVE_STATES = ("starting", "running")
LOG_LINES_KEPT = 500


@dataclass
class QueuedRun:
    """One submitted config and everything the UI knows about its run (UI thread only)."""

    queue_id: str
    config: dict[str, Any]
    device_key: str
    state: str = "queued"  # queued | starting (loading data) | running | finished
    run_id: str | None = None
    run_dir: Path | None = None
    status: str | None = None  # the engine's final status once finished
    error: str | None = None
    task: str = "classify"
    device: str = ""
    params: int | None = None
    classes: list[str] = field(default_factory=list)
    num_train: int = 0
    num_test: int = 0
    epochs: int = 0
    metrics: list[dict[str, Any]] = field(default_factory=list)
    progress: Any = None  # the last BatchProgress event
    samples: list[str] = field(default_factory=list)
    logs: deque[str] = field(default_factory=lambda: deque(maxlen=LOG_LINES_KEPT))
    logs_total: int = 0  # lines ever logged (the deque keeps only the last ones)
    summary: dict[str, Any] = field(default_factory=dict)
    cancel_requested: bool = False

    is_sweep = False

    @property
    def label(self) -> str:
        """Short human name: `model on dataset`."""
        return f"{self.config.get('model', '?')} on {self.config.get('dataset', '?')}"

    @property
    def state_text(self) -> str:
        """The queue table's state cell: the final status once finished, else the state."""
        return (self.status or "finished") if self.state == "finished" else self.state

    @property
    def epoch_text(self) -> str:
        """`2/10` — epochs done of the run's total."""
        return f"{len(self.metrics)}/{self.epochs or self.config.get('epochs', '?')}"

    @property
    def final_statuses(self) -> tuple[str, ...]:
        """Statuses this job can end with (anything else reads as failed)."""
        return FINAL_STATUSES

    def log(self, line: str) -> None:
        self.logs.append(line)
        self.logs_total += 1

    def apply(self, event: Any) -> None:
        """Fold one engine event into this run's state (UI thread)."""
        match event:
            case RunStarted():
                self.state = "running"
                self.run_id = event.run_id
                self.run_dir = Path(event.run_dir)
                self.task = event.task
                self.device = str(event.device)
                self.params = event.params
                self.classes = list(event.classes or [])
                self.num_train, self.num_test = event.num_train, event.num_test
                self.epochs = event.epochs
                self.metrics = [dict(row) for row in event.history or []]
            case BatchProgress():
                self.progress = event
            case EpochEnd():
                self.metrics.append(dict(event.metrics))
            case Samples():
                self.samples = [str(p) for p in event.paths]
                folder = Path(self.samples[0]).parent if self.samples else ""
                self.log(f"samples: epoch {event.epoch}, {len(self.samples)} PNGs in {folder}")
            case Log():
                self.log(f"{event.level}: {event.message}")
            case RunFinished():
                self.run_id = self.run_id or event.run_id
                self.state = "finished"
                self.status = event.status
                self.error = event.error
                self.summary = dict(event.summary or {})


@dataclass
class QueuedSweep(QueuedRun):
    """A sweep (grid × seeds) queued as one job; `config` is its base config.

    `done`/`total` count points with a completed run (as `PointFinished` reports them);
    the run fields (`run_id`, `metrics`, `progress`…) describe the point training now.
    """

    spec: Any = None  # engine.sweeps.SweepSpec
    sweep_id: str = ""
    total: int = 0
    done: int = 0
    failed: int = 0
    point: str = ""  # the current point: its setting and seed
    run_ids: list[str] = field(default_factory=list)

    is_sweep = True

    @property
    def label(self) -> str:
        base = f"sweep {super().label}"
        return f"{base} [{self.point}]" if self.point else base

    @property
    def progress_text(self) -> str:
        """`sweep 3/12` — completed points of all."""
        return f"sweep {self.done}/{self.total}"

    @property
    def state_text(self) -> str:
        if self.state == "finished":
            return f"{self.status or 'finished'} {self.done}/{self.total}"
        return self.progress_text

    @property
    def final_statuses(self) -> tuple[str, ...]:
        return SWEEP_STATUSES

    def apply(self, event: Any) -> None:
        # Imported here: engine.sweeps costs a fraction of a second the first paint can do
        # without, and sweep events only arrive once the engine is loaded.
        from engine.sweeps.events import PointFinished, PointStarted, SweepFinished, SweepStarted

        match event:
            case SweepStarted():
                self.state = "running"
                self.total, self.done = event.total, event.skipped
                skipped = f", {event.skipped} already completed" if event.skipped else ""
                self.log(f"sweep {event.sweep_id}: {event.total} runs{skipped}")
                if event.parallel_note:
                    self.log(f"info: {event.parallel_note}")
            case PointStarted():
                self._start_point(event)
            case PointFinished():
                self.done, self.total = event.done, event.total
                self.failed += event.status in FAILED_STATUSES
                reason = f": {event.error}" if event.error else ""
                self.log(f"point {event.index + 1}/{event.total} {event.status}{reason}")
            case SweepFinished():
                self.state = "finished"
                self.status = event.status
                self.done, self.total = event.completed, event.total
                self.run_ids = list(event.run_ids)
                self.error = f"{event.failed} run(s) failed" if event.failed else None
                self.log(f"sweep {event.status}: {event.completed}/{event.total} runs completed")
            case RunFinished():
                # One point ended; the sweep goes on (SweepFinished ends the queue entry).
                self.run_id = self.run_id or event.run_id
                self.summary = dict(event.summary or {})
                if event.error:
                    self.log(f"error: {event.error}")
            case _:
                super().apply(event)

    def _start_point(self, event: Any) -> None:
        """A new point: forget the previous point's run so Live shows this one from scratch."""
        self.state = "running"
        self.done, self.total = event.done, event.total
        self.point = f"{event.label} seed={event.seed}"
        self.run_id, self.run_dir, self.progress = event.run_id, None, None
        self.metrics, self.samples, self.summary = [], [], {}
        self.log(f"point {event.index + 1}/{event.total}: {self.point}")
