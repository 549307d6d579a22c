"""The dashboard's run queue: runs execute one at a time per device, in Textual thread workers.

The runner owns no training logic: each queued config becomes an `engine.trainer.Trainer`
whose `run()` is called inside a `run_worker(thread=True)` lane (one lane per device). The
trainer's events are wrapped in `EngineEvent` and *posted* to the app (thread-safe, never
blocking the trainer); the app then calls `RunQueue.apply` on the UI thread, so every piece
of run state the screens read (`QueuedRun`) is only ever mutated on the UI thread.

A sweep (`submit_sweep`) queues like a run — one job in its device's lane — and runs the
engine's `SweepRunner` there, which trains its points one after another; cancelling it
cancels the point in progress and starts no more.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from textual.app import App

from cnnlab_tui.engine_import import EngineImport
from cnnlab_tui.messages import EngineEvent, LaunchFailed, QueueChanged
from cnnlab_tui.queue_items import (
    ACTIVE_STATES,
    FINAL_STATUSES,
    LOG_LINES_KEPT,
    QueuedRun,
    QueuedSweep,
)

__all__ = [
    "ACTIVE_STATES",
    "FINAL_STATUSES",
    "LOG_LINES_KEPT",
    "QueuedRun",
    "QueuedSweep",
    "RunQueue",
    "TrainerFactory",
    "device_key",
    "validate_config",
]

log = logging.getLogger(__name__)

TrainerFactory = Callable[..., Any]


def _default_trainer_factory(config: dict[str, Any], runs_dir: Path) -> Any:
    from engine.trainer.config import TrainConfig
    from engine.trainer.loop import Trainer

    return Trainer(TrainConfig.from_dict(config), runs_dir=runs_dir)


def validate_config(config: dict[str, Any]) -> dict[str, str]:
    """The engine's field → message errors for `config` (empty when it can be launched)."""
    from engine.errors import CnnlabError
    from engine.trainer.config import TrainConfig

    try:
        return dict(TrainConfig.from_dict(config).validate())
    except CnnlabError as exc:
        return dict(getattr(exc, "errors", None) or {"config": str(exc)})


def device_key(device: str) -> str:
    """Which lane a device string runs in: `auto`/`cuda` resolve so that two spellings of
    one device never train at once."""
    from engine.trainer.device import device_key as engine_device_key

    return engine_device_key(device)


class RunQueue:
    """Queue of training runs, executed one at a time per device (the `app.runner` API)."""

    def __init__(
        self,
        app: App,
        runs_dir: Path,
        *,
        engine: EngineImport,
        trainer_factory: TrainerFactory | None = None,
    ) -> None:
        self._app = app
        self._engine = engine  # lanes wait for its import before building a trainer
        self.runs_dir = Path(runs_dir)
        self._factory = trainer_factory or _default_trainer_factory
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._lanes: dict[str, deque[QueuedRun]] = {}
        self._busy_lanes: set[str] = set()
        self._trainers: dict[str, Any] = {}
        self._runs: dict[str, QueuedRun] = {}  # every run of this session, in submit order
        self._started: list[str] = []  # queue ids in the order they started
        self._last_event: str | None = None  # queue id of the run that last reported

    # -- what screens read (UI thread) ------------------------------------------------
    @property
    def queue(self) -> list[QueuedRun]:
        """Runs waiting for their device, oldest first."""
        return [r for r in self._runs.values() if r.state == "queued"]

    @property
    def running(self) -> list[QueuedRun]:
        """Runs whose lane has taken them up (loading data or training)."""
        return [r for r in self._runs.values() if r.state in ACTIVE_STATES]

    @property
    def runs(self) -> list[QueuedRun]:
        """Every run submitted in this session (queued, running and finished)."""
        return list(self._runs.values())

    @property
    def active(self) -> bool:
        """True while anything is running or waiting to run — until the UI has seen it end."""
        if any(run.state != "finished" for run in self._runs.values()):
            return True
        with self._lock:
            return bool(self._busy_lanes) or any(self._lanes.values())

    @property
    def current(self) -> QueuedRun | None:
        """The run the Live screen follows: the latest started, else the next queued."""
        for qid in reversed(self._started):
            run = self._runs.get(qid)
            if run is not None and run.state != "finished":
                return run
        waiting = self.queue
        if waiting:
            return waiting[0]
        return self._runs.get(self._last_event) if self._last_event else None

    def get(self, queue_id: str) -> QueuedRun | None:
        return self._runs.get(queue_id)

    # -- commands (UI thread) -------------------------------------------------------------
    def submit(self, config: dict[str, Any]) -> str:
        """Queue `config`; returns its queue id. Raises ConfigError when it does not validate.

        Validating needs the engine: called before it is loaded (the form cannot launch by
        then; a script can), this waits for the import."""
        from engine.errors import ConfigError

        self._engine.wait()
        errors = validate_config(config)
        if errors:
            raise ConfigError(errors)
        key = device_key(str(config.get("device", "auto")))
        return self._enqueue(
            QueuedRun(queue_id=f"q{next(self._ids)}", config=dict(config), device_key=key)
        )

    def submit_sweep(self, spec: Any, config: dict[str, Any]) -> str:
        """Queue the sweep `spec` (an engine SweepSpec; `config` is its base config, shown
        while it waits); returns its queue id. Raises ConfigError when a point is invalid."""
        self._engine.wait()
        from engine.sweeps import planned_configs

        planned_configs(spec)  # every point validated now, so a bad one never waits in line
        key = device_key(str(config.get("device", "auto")))
        total = len(spec.points())
        sweep = QueuedSweep(
            queue_id=f"q{next(self._ids)}", config=dict(config), device_key=key,
            spec=spec, sweep_id=spec.sweep_id, total=total,
        )  # fmt: skip
        return self._enqueue(sweep)

    def _enqueue(self, run: QueuedRun) -> str:
        self._runs[run.queue_id] = run
        key = run.device_key
        with self._lock:
            self._lanes.setdefault(key, deque()).append(run)
            start_lane = key not in self._busy_lanes
            if start_lane:
                self._busy_lanes.add(key)
        if start_lane:
            self._app.run_worker(
                partial(self._lane_loop, key),
                name=f"runner lane {key}",
                group="runner",
                thread=True,
                exit_on_error=False,
            )
        self._app.post_message(QueueChanged())
        return run.queue_id

    def remove(self, queue_id: str) -> bool:
        """Drop a run that has not started yet; False when it is running or unknown."""
        run = self._runs.get(queue_id)
        if run is None:
            return False
        with self._lock:
            lane = self._lanes.get(run.device_key)
            if lane is None or run not in lane:
                return False
            lane.remove(run)
        del self._runs[queue_id]
        self._app.post_message(QueueChanged())
        return True

    def cancel(self, queue_id: str) -> bool:
        """Ask a running run to stop (within one batch); its folder is saved as cancelled."""
        run = self._runs.get(queue_id)
        if run is None or run.state == "finished":
            return False
        if run.state == "queued" and self.remove(queue_id):
            return True
        with self._lock:
            run.cancel_requested = True
            trainer = self._trainers.get(queue_id)
        if trainer is not None:
            trainer.cancel()
        return True

    def cancel_all(self) -> None:
        """Empty the queue and cancel every running run (quitting the app)."""
        for run in list(self._runs.values()):
            if run.state != "finished":
                self.cancel(run.queue_id)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no lane is busy (call from a thread, not the UI loop)."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._busy_lanes, timeout=timeout)

    def mark_starting(self, queue_id: str) -> None:
        """Its lane took the run up: it leaves the queue and data loading begins (UI thread)."""
        run = self._runs.get(queue_id)
        if run is not None and run.state == "queued":
            run.state = "starting"
            self._started.append(queue_id)

    def mark_ended(self, queue_id: str, status: str | None, error: str | None = None) -> None:
        """Close a run whose lane is done with it but that sent no RunFinished (UI thread)."""
        run = self._runs.get(queue_id)
        if run is not None and run.state != "finished":
            self._last_event = queue_id
            run.state = "finished"
            run.status = status if status in run.final_statuses else "failed"
            run.error = run.error or error

    def apply(self, message: EngineEvent) -> QueuedRun | None:
        """Fold an engine event into its run's state; called by the app on the UI thread."""
        run = self._runs.get(message.queue_id)
        if run is not None:
            if run.queue_id not in self._started:
                self._started.append(run.queue_id)
            self._last_event = run.queue_id
            run.apply(message.event)
        return run

    # -- lane threads ---------------------------------------------------------------------
    def _lane_loop(self, key: str) -> None:
        """Run the lane's queued configs one after another (a Textual thread worker)."""
        while True:
            with self._lock:
                lane = self._lanes.get(key)
                if not lane:
                    self._busy_lanes.discard(key)
                    self._idle.notify_all()
                    return
                run = lane.popleft()
            self._execute(run)

    def _execute(self, run: QueuedRun) -> None:
        from engine.errors import CnnlabError

        post = self._app.post_message
        post(QueueChanged(starting=run.queue_id))
        trainer = None
        try:
            self._engine.wait()  # one thread imports the engine at a time (engine_import)
            trainer = self._make_job(run)
            trainer.subscribe(lambda event: post(EngineEvent(run.queue_id, event)))
            with self._lock:
                if run.cancel_requested:
                    post(LaunchFailed(run.queue_id, "cancelled before it started", "cancelled"))
                    return
                self._trainers[run.queue_id] = trainer
            trainer.run()
        except CnnlabError as exc:
            post(LaunchFailed(run.queue_id, str(exc)))
        except Exception as exc:  # a bug must not kill the lane or the app
            log.exception("run %s crashed", run.queue_id)
            post(LaunchFailed(run.queue_id, f"unexpected error: {exc}"))
        finally:
            with self._lock:
                self._trainers.pop(run.queue_id, None)
            post(QueueChanged(ended=run.queue_id, status=getattr(trainer, "status", None)))

    def _make_job(self, run: QueuedRun) -> Any:
        """What the lane runs: a trainer for a run, the engine's SweepRunner for a sweep
        (both have subscribe / run / cancel)."""
        if isinstance(run, QueuedSweep):
            from engine.sweeps import SweepRunner

            return SweepRunner(run.spec, self.runs_dir)
        return self._factory(run.config, runs_dir=self.runs_dir)
