"""`RunWriter`: the subscriber that makes a run's folder the truth on disk.

Layout of one run folder:
    config.json      the resolved TrainConfig
    summary.json     status, best/final metrics, timings (rewritten atomically)
    metrics.jsonl    one line per finished epoch, flushed as soon as the epoch ends
    batches.jsonl    the running training loss as progress was published (a few per
                     second: `cnnlab tensorboard` draws it per batch), and that batch's
                     own loss (`batch_loss`; absent in files written before it)
    run.log          every Log event, with time and level
    last.pt, best.pt checkpoints (written by the trainer)
    samples/         sample PNGs
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.errors import RunStoreError
from engine.events import BatchProgress, EpochEnd, Log, RunFinished, RunStarted, Samples
from engine.runs.files import (
    append_json_line,
    read_json_lines,
    write_json_atomic,
    write_json_lines_atomic,
)
from engine.runs.summary import SummaryTracker

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
SUMMARY_FILE = "summary.json"
METRICS_FILE = "metrics.jsonl"
BATCHES_FILE = "batches.jsonl"
LOG_FILE = "run.log"
SAMPLES_DIR = "samples"


class RunWriter:
    """Writes one run's folder from its events (call it with each event).

    The summary comes from `tracker`, the run's one `SummaryTracker`, which its owner (the
    trainer) feeds every event before subscribers see it; the writer only mirrors it to disk.
    """

    def __init__(self, run_dir: Path | str, tracker: SummaryTracker):
        self.run_dir = Path(run_dir)
        self._tracker = tracker
        self._open = False  # True once the folder is this run's to write (created or started)
        self._early_logs: list[str] = []

    def __call__(self, event: object) -> None:
        if isinstance(event, RunStarted):
            self._on_started(event)
        elif not self._open:
            if isinstance(event, Log):
                self._on_early_log(event)
        elif isinstance(event, EpochEnd):
            append_json_line(self.run_dir / METRICS_FILE, event.metrics)
            self._write_summary()
        elif isinstance(event, BatchProgress):
            append_json_line(self.run_dir / BATCHES_FILE, _batch_row(event), sync=False)
        elif isinstance(event, Samples):
            self._write_summary()
        elif isinstance(event, Log):
            self._append_log(event)
        elif isinstance(event, RunFinished):
            self._write_summary()

    def create(self) -> None:
        """Make a new run's folder before its data loads: `config.json` and a `running`
        summary, so a run that fails or is cancelled while loading is still listed, with
        its status and error. `RunStoreError` when the folder cannot be made."""
        try:
            self.run_dir.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            raise RunStoreError(f"run folder {self.run_dir} already exists") from None
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise RunStoreError(f"cannot create the run folder {self.run_dir}: {reason}") from exc
        self._open = True
        write_json_atomic(self.run_dir / CONFIG_FILE, self._tracker.summary()["config"])
        self._write_summary()
        self._flush_early_logs()

    def _on_started(self, event: RunStarted) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / SAMPLES_DIR).mkdir(exist_ok=True)
        self._open = True
        write_json_atomic(self.run_dir / CONFIG_FILE, event.config)
        # A resumed run restarts after its last checkpoint: drop any later rows so the
        # curve continues without duplicate epochs.
        write_json_lines_atomic(self.run_dir / METRICS_FILE, list(event.history))
        self._trim_batches(event.start_epoch)
        self._write_summary()
        self._flush_early_logs()

    def _on_early_log(self, event: Log) -> None:
        """Lines logged before the folder exists wait for it; in a resumed run's existing
        folder they go straight to its log. Nothing else is written to a resumed run before
        it starts, so a resume that fails never touches the run's summary."""
        if self.run_dir.is_dir():
            self._append_log(event)
        else:
            self._early_logs.append(_log_line(event))

    def _flush_early_logs(self) -> None:
        if self._early_logs:
            with open(self.run_dir / LOG_FILE, "a", encoding="utf-8") as handle:
                handle.writelines(self._early_logs)
            self._early_logs.clear()

    def _trim_batches(self, kept: int) -> None:
        """Batch rows of epochs after the checkpoint go too (they are trained again)."""
        path = self.run_dir / BATCHES_FILE
        if path.exists():
            rows, _ = read_json_lines(path)
            rows = [r for r in rows if isinstance(r.get("epoch"), int) and r["epoch"] <= kept]
            write_json_lines_atomic(path, rows)

    def _write_summary(self) -> None:
        write_json_atomic(self.run_dir / SUMMARY_FILE, self._tracker.summary())

    def _append_log(self, event: Log) -> None:
        with open(self.run_dir / LOG_FILE, "a", encoding="utf-8") as handle:
            handle.write(_log_line(event))


def _batch_row(event: BatchProgress) -> dict[str, Any]:
    step = (event.epoch - 1) * event.num_batches + event.batch
    return {
        "epoch": event.epoch,
        "batch": event.batch,
        "step": step,
        "loss": event.loss,
        "batch_loss": event.batch_loss,
        "images_per_second": event.images_per_second,
    }


def _log_line(event: Log) -> str:
    stamp = datetime.now().isoformat(timespec="seconds")
    return f"{stamp} {event.level.upper():7} {event.message}\n"
