"""What a client attaching mid-run needs to redraw everything so far: per active entry, the
events its runs published (kept here, in the engine's memory) and the per-batch losses
(read back from the run's `batches.jsonl`, which the run writer keeps anyway).

Only the engine's event-loop thread touches these objects.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.events import BatchProgress, EpochEnd, Log, RunFinished, RunStarted
from engine.runs.files import read_json_lines
from engine.runs.writer import BATCHES_FILE
from engine.service.events import BatchHistory
from engine.sweeps.events import PointStarted

LOG_LINES_KEPT = 200  # the last log lines replayed to a client that attaches
BATCH_ROWS_PER_MESSAGE = 2000  # keeps a BatchHistory message far below the size limit


class EntryReplay:
    """The events of one active entry, in order: everything but BatchProgress and Log,
    which are summed up as the current run's batch history and the last log lines."""

    def __init__(self) -> None:
        self.events: list[object] = []
        self.logs: deque[Log] = deque(maxlen=LOG_LINES_KEPT)
        self.run_id: str | None = None  # the run in progress (a sweep has several)
        self.run_ids: list[str] = []
        self.run_dirs: dict[str, Path] = {}
        self.last_batch: BatchProgress | None = None
        self.epochs_done = 0
        self.epochs = 0
        self.run_lanes: dict[str, str] = {}  # a sweep's run → the lane it trains on
        self.running: dict[str, dict[str, Any]] = {}  # run id → {lane, epoch, epochs}

    def record(self, event: object) -> None:
        if isinstance(event, BatchProgress):
            self.last_batch = event
            return
        if isinstance(event, Log):
            self.logs.append(event)
            return
        self.events.append(event)
        if isinstance(event, PointStarted) and event.run_id and event.lane:
            self.run_lanes[event.run_id] = event.lane
        elif isinstance(event, RunStarted):
            self.run_id = event.run_id
            if event.run_id not in self.run_ids:
                self.run_ids.append(event.run_id)
            self.run_dirs[event.run_id] = Path(event.run_dir)
            self.epochs, self.epochs_done = event.epochs, event.start_epoch
            self.last_batch = None
            self.running[event.run_id] = {
                "run_id": event.run_id,
                "lane": self.run_lanes.get(event.run_id),
                "epoch": event.start_epoch,
                "epochs": event.epochs,
            }
        elif isinstance(event, EpochEnd):
            self.epochs_done = event.epoch
            if event.run_id in self.running:
                self.running[event.run_id]["epoch"] = event.epoch
        elif isinstance(event, RunFinished):
            self.running.pop(event.run_id, None)
            if event.run_id == self.run_id:
                self.last_batch = None

    def progress(self) -> dict[str, Any]:
        """What a queue listing shows of it: the current run and how far it is."""
        batch = self.last_batch
        return {
            "run_id": self.run_id,
            "run_ids": list(self.run_ids),
            "epoch": self.epochs_done,
            "epochs": self.epochs,
            "batch": batch.batch if batch else None,
            "num_batches": batch.num_batches if batch else None,
            "loss": batch.loss if batch else None,
            "runs": [dict(run) for run in self.running.values()],
        }

    def replay(self) -> Iterator[object]:
        """The recorded events, then the log tail (the batch history comes separately)."""
        yield from self.events
        yield from self.logs

    def batch_history(self) -> tuple[list[BatchHistory], int]:
        """The current run's `batches.jsonl` in chunks, and the last step it holds: live
        BatchProgress events up to that step are already in it (the run writer writes a
        row before the engine hears of it), so a client is sent only later ones."""
        run_id = self.run_id
        if run_id is None or run_id not in self.run_dirs:
            return [], 0
        path = self.run_dirs[run_id] / BATCHES_FILE
        try:
            rows, _ = read_json_lines(path) if path.exists() else ([], None)
        except OSError:
            rows = []
        steps = [r["step"] for r in rows if isinstance(r.get("step"), int)]
        chunks = [
            BatchHistory(run_id, rows[start : start + BATCH_ROWS_PER_MESSAGE])
            for start in range(0, len(rows), BATCH_ROWS_PER_MESSAGE)
        ]
        return chunks, max(steps, default=0)
