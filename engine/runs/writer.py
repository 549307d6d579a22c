"""`RunWriter`: the subscriber that makes a run's folder the truth on disk.

Layout of one run folder:
    config.json      the resolved TrainConfig
    summary.json     status, best/final metrics, timings (rewritten atomically)
    metrics.jsonl    one line per finished epoch, flushed as soon as the epoch ends
    batches.jsonl    the running training loss as progress was published (a few per
                     second: `cnnlab tensorboard` draws it per batch), and that batch's
                     own loss (`batch_loss`) and learning rate (`lr`; both absent in
                     files written before them)
    run.log          every Log event, with time and level
    last.pt, best.pt checkpoints (written by the trainer)
    samples/         sample PNGs

A write that fails (disk full, read-only folder) never leaves half a file: the writer keeps
the first `StorageError` in `failure` (the trainer stops the run on it) and writes nothing
more but the final summary, which it still tries, so the run reads as `failed` with the
reason wherever the disk allows. `recorded` says whether that final summary made it.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.errors import RunStoreError, StorageError
from engine.events import BatchProgress, EpochEnd, Log, RunFinished, RunStarted, Samples
from engine.runs.files import (
    append_json_line,
    json_safe,
    read_json_lines,
    write_failure,
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
        self.failure: StorageError | None = None  # the first write that failed
        self._failure_taken = False
        self.recorded = False  # the final summary (RunFinished) is on disk

    def __call__(self, event: object) -> None:
        if self.failure is not None and not isinstance(event, RunFinished):
            return  # after a failed write only the final summary is still tried
        try:
            self._handle(event)
        except StorageError as exc:
            self.failure = self.failure or exc
            logger.warning("%s", exc)

    def take_failure(self) -> StorageError | None:
        """The first failed write, handed out once (the trainer raises it to stop the run)."""
        if self.failure is None or self._failure_taken:
            return None
        self._failure_taken = True
        return self.failure

    def _handle(self, event: object) -> None:
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
            self._write_final_summary()

    def create(self) -> None:
        """Make a new run's folder before its data loads: `config.json` and a `running`
        summary, so a run that fails or is cancelled while loading is still listed, with
        its status and error. `RunStoreError` when the folder cannot be made; when its
        files cannot be written (disk full) the folder is removed again and the
        `StorageError` raised, so no half-made run is left to list as damaged."""
        try:
            self.run_dir.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            raise RunStoreError(f"run folder {self.run_dir} already exists") from None
        except OSError as exc:
            reason = write_failure(exc, self.run_dir).reason
            raise RunStoreError(f"cannot create the run folder {self.run_dir}: {reason}") from exc
        try:
            write_json_atomic(self.run_dir / CONFIG_FILE, self._tracker.summary()["config"])
            self._write_summary()
        except StorageError:
            shutil.rmtree(self.run_dir, ignore_errors=True)  # only what was just made
            raise
        self._open = True
        self._flush_early_logs()

    def _on_started(self, event: RunStarted) -> None:
        try:
            (self.run_dir / SAMPLES_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_failure(exc, self.run_dir / SAMPLES_DIR) from exc
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
            path = self.run_dir / LOG_FILE
            try:
                with open(path, "a", encoding="utf-8", errors="backslashreplace") as handle:
                    handle.writelines(self._early_logs)
            except OSError as exc:
                raise write_failure(exc, path) from exc
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

    def _write_final_summary(self) -> None:
        """The run's end, written atomically — or, when the disk is full, over the old
        summary in place, which needs no new space when it is no longer than the blocks
        the old one holds. Only a full disk takes that path."""
        summary = self._tracker.summary()
        try:
            write_json_atomic(self.run_dir / SUMMARY_FILE, summary)
        except StorageError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            _overwrite_in_place(self.run_dir / SUMMARY_FILE, summary, exc)
        self.recorded = True

    def _append_log(self, event: Log) -> None:
        path = self.run_dir / LOG_FILE
        try:
            with open(path, "a", encoding="utf-8", errors="backslashreplace") as handle:
                handle.write(_log_line(event))
        except OSError as exc:
            raise write_failure(exc, path) from exc


def _overwrite_in_place(path: Path, summary: dict[str, Any], failure: StorageError) -> None:
    """Rewrite `path` within its allocated blocks, or raise `failure` if it would grow."""
    data = (json.dumps(json_safe(summary), indent=2, allow_nan=False) + "\n").encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError:
        raise failure from None
    try:
        if len(data) > os.fstat(fd).st_blocks * 512:
            raise failure
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
        os.fsync(fd)
    except OSError:
        raise failure from None
    finally:
        os.close(fd)


def _batch_row(event: BatchProgress) -> dict[str, Any]:
    step = (event.epoch - 1) * event.num_batches + event.batch
    return {
        "epoch": event.epoch,
        "batch": event.batch,
        "step": step,
        "loss": event.loss,
        "batch_loss": event.batch_loss,
        "lr": event.lr,
        "images_per_second": event.images_per_second,
    }


def _log_line(event: Log) -> str:
    stamp = datetime.now().isoformat(timespec="seconds")
    return f"{stamp} {event.level.upper():7} {event.message}\n"


def record_ending(run_dir: Path | str, status: str, error: str | None) -> None:
    """Rewrite the summary of a run whose own writer could not end it — a distributed run
    whose rank 0 was stopped by another rank's death: the launcher records how it ended
    (and says so in run.log). The rest of the summary stays as the writer left it."""
    from engine.runs.files import read_json
    from engine.runs.summary import now_iso

    run_dir = Path(run_dir)
    try:
        summary = read_json(run_dir / SUMMARY_FILE)
    except (OSError, ValueError):
        summary = {"run_id": run_dir.name}
    finished = now_iso()
    summary.update(status=status, error=error, finished_at=finished, updated_at=finished)
    write_json_atomic(run_dir / SUMMARY_FILE, summary)
    with open(run_dir / LOG_FILE, "a", encoding="utf-8") as handle:
        handle.write(_log_line(Log(run_dir.name, "error", f"{status}: {error}")))
