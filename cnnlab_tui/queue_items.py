"""What the dashboard knows about each entry of the engine's queue: a run (or a resume), or
a sweep of runs.

Both fold the engine's updates into plain state on the UI thread: `show(view)` takes the
engine's view of the entry (state, lane, position — from `QueueState`), `apply(event)` one
event of its runs. The Live screen and the queue table read it. An entry that was running
before this dashboard attached gets the same events from the engine's snapshot (every epoch
so far, the current run's batches as `BatchHistory`), so it looks the same from any
dashboard. A sweep is one entry that runs its points one after another; while a point
trains, the sweep shows that point's run — curves, progress, log — and its row reads
`sweep k/N`.
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
SWEEP_STATUSES = ("completed", "incomplete", "cancelled", "failed", "interrupted")
ACTIVE_STATES = ("starting", "running", "stopping")  # a lane has it
LOG_LINES_KEPT = 500
BATCH_ROWS_KEPT = 20_000  # per-batch losses kept for the run on screen


@dataclass
class QueuedRun:
    """One queue entry and everything the UI knows about its run (UI thread only)."""

    queue_id: str
    config: dict[str, Any] = field(default_factory=dict)  # as submitted, or as RunStarted says
    lane: str = ""  # the engine's lane (one per device today; several per GPU later)
    kind: str = "run"  # run | resume | sweep
    engine_label: str = ""  # what the engine calls it ("conv on shapes, 10 epochs")
    state: str = "queued"  # queued | starting (loading data) | running | stopping | finished
    position: int = 0  # place in the queue while queued (1 = next)
    submitted_here: bool = False  # this dashboard queued it
    run_id: str | None = None
    run_dir: Path | None = None
    status: str | None = None  # the final status once finished
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
    waiting_for_lanes: int = 0  # a run over several GPUs gathering its lanes
    batches: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=BATCH_ROWS_KEPT))
    samples: list[str] = field(default_factory=list)
    logs: deque[str] = field(default_factory=lambda: deque(maxlen=LOG_LINES_KEPT))
    logs_total: int = 0  # lines ever logged (the deque keeps only the last ones)
    summary: dict[str, Any] = field(default_factory=dict)

    is_sweep = False

    @property
    def label(self) -> str:
        """Short human name: `model on dataset` (the engine's label until that is known)."""
        if self.config.get("model"):
            return f"{self.config.get('model')} on {self.config.get('dataset', '?')}"
        return self.engine_label or self.kind

    @property
    def active(self) -> bool:
        return self.state != "finished"

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

    def show(self, view: dict[str, Any]) -> None:
        """Take the engine's view of this entry (`QueueState`, a submission's reply)."""
        self.kind = str(view.get("kind") or self.kind)
        self.engine_label = str(view.get("label") or self.engine_label)
        self.lane = str(view.get("lane") or self.lane)
        self.position = int(view.get("position") or 0)
        self.waiting_for_lanes = int(view.get("waiting_for_lanes") or 0)
        self.run_id = self.run_id or view.get("run_id")
        engine_state = view.get("state")
        if self.state == "finished":
            return
        if engine_state == "queued":
            self.state = "queued"
        elif engine_state == "stopping":
            self.state = "stopping"
        elif engine_state == "running" and self.state in ("queued", "stopping"):
            self.state = "starting" if self.progress is None and not self.metrics else "running"
        if not self.epochs and view.get("epochs"):
            self.epochs = int(view["epochs"])

    def finish(self, status: str, error: str | None = None) -> None:
        """The engine is done with this entry (EntryFinished, or its engine died)."""
        if self.state == "finished":
            return
        self.state = "finished"
        self.status = status if status in self.final_statuses else "failed"
        self.error = self.error or error

    def apply(self, event: Any) -> None:
        """Fold one event of this entry's runs into its state (UI thread)."""
        from engine.service.events import BatchHistory, EntryStarted

        match event:
            case EntryStarted():
                self.lane = event.lane or self.lane
                if self.state in ("queued", "finished"):
                    self.state, self.status, self.error = "starting", None, None
            case RunStarted():
                if self.state != "stopping":
                    self.state = "running"
                self.run_id = event.run_id
                self.run_dir = Path(event.run_dir)
                self.config = dict(event.config or self.config)
                self.task = event.task
                self.device = str(event.device)
                self.params = event.params
                self.classes = list(event.classes or [])
                self.num_train, self.num_test = event.num_train, event.num_test
                self.epochs = event.epochs
                self.metrics = [dict(row) for row in event.history or []]
                self.batches.clear()
            case BatchProgress():
                self.progress = event
                self.batches.append(_batch_row(event))
            case BatchHistory():
                if event.run_id == self.run_id:
                    self.batches.extend(dict(row) for row in event.rows)
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
                self.status = event.status
                self.error = event.error
                self.summary = dict(event.summary or {})
                self.state = "finished"


def _batch_row(event: BatchProgress) -> dict[str, Any]:
    """A BatchProgress as the row `batches.jsonl` holds (what BatchHistory replays)."""
    return {
        "epoch": event.epoch,
        "batch": event.batch,
        "step": (event.epoch - 1) * event.num_batches + event.batch,
        "loss": event.loss,
        "batch_loss": event.batch_loss,
        "lr": event.lr,
        "images_per_second": event.images_per_second,
    }


@dataclass
class QueuedSweep(QueuedRun):
    """A sweep (grid × seeds) queued as one entry; `config` is its base config.

    `done`/`total` count points with a completed run (as `PointFinished` reports them);
    the run fields (`run_id`, `metrics`, `progress`…) describe the point training now.
    """

    kind: str = "sweep"
    sweep_id: str = ""
    total: int = 0
    done: int = 0
    failed: int = 0
    point: str = ""  # the current point: its setting and seed
    run_ids: list[str] = field(default_factory=list)

    is_sweep = True

    @property
    def label(self) -> str:
        base = f"sweep {super().label}" if self.config.get("model") else self.engine_label
        return f"{base} [{self.point}]" if self.point else base

    @property
    def progress_text(self) -> str:
        """`sweep 3/12` — completed points of all."""
        return f"sweep {self.done}/{self.total or '?'}"

    @property
    def state_text(self) -> str:
        if self.state == "finished":
            return f"{self.status or 'finished'} {self.done}/{self.total or '?'}"
        return self.progress_text

    @property
    def final_statuses(self) -> tuple[str, ...]:
        return SWEEP_STATUSES

    def apply(self, event: Any) -> None:
        from engine.sweeps.events import PointFinished, PointStarted, SweepFinished, SweepStarted

        match event:
            case SweepStarted():
                self.state = "running" if self.state != "stopping" else self.state
                self.sweep_id = event.sweep_id
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
                # One point ended; the sweep goes on (SweepFinished ends the entry).
                self.run_id = self.run_id or event.run_id
                self.summary = dict(event.summary or {})
                if event.error:
                    self.log(f"error: {event.error}")
            case RunStarted():
                base = self.config
                super().apply(event)
                self.config = base or self.config  # the sweep's base, not the point's
            case _:
                super().apply(event)

    def _start_point(self, event: Any) -> None:
        """A new point: forget the previous point's run so Live shows this one from scratch."""
        if self.state != "stopping":
            self.state = "running"
        self.sweep_id = self.sweep_id or event.sweep_id
        self.done, self.total = event.done, event.total
        self.point = f"{event.label} seed={event.seed}"
        self.run_id, self.run_dir, self.progress = event.run_id, None, None
        self.metrics, self.samples, self.summary = [], [], {}
        self.batches.clear()
        self.log(f"point {event.index + 1}/{event.total}: {self.point}")


def queued_item(queue_id: str, kind: str) -> QueuedRun:
    """A new item for an entry of `kind` (run | resume | sweep | search: a sweep of
    trials)."""
    if kind in ("sweep", "search"):
        return QueuedSweep(queue_id)
    return QueuedRun(queue_id, kind=kind)
