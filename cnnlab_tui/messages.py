"""Messages between threads (the run queue, screens' workers) and the dashboard's screens.

Engine events never touch widgets directly: the runner wraps each one in `EngineEvent` and
posts it to the app (thread-safe), the app updates its run state on the UI thread and
forwards it to the screens. `RunsChanged` tells every screen that the run store changed;
`EngineLoaded` that torch and the engine have been imported (`cnnlab_tui.engine_import`).

A screen's thread worker hands its result back one way only: it posts a `WorkerAnswer`
subclass to the screen, handled there with `@on`.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message
from textual.worker import get_current_worker


class WorkerAnswer(Message, bubble=False):
    """What a screen's thread worker found (subclasses carry it); post it from the worker.

    `superseded` is True once a newer worker of the same exclusive group has started (each
    start cancels the one before): handlers drop such an answer, so a late answer never
    overwrites a newer one. It is read on the UI thread, where workers are started, so
    there is no race between the check and a newer start.
    """

    def __init__(self) -> None:
        super().__init__()
        self.worker = get_current_worker()

    @property
    def superseded(self) -> bool:
        return self.worker.is_cancelled


class EngineLoaded(Message, bubble=False):
    """The background import of torch and the engine ended; `error` says why it failed."""

    def __init__(self, error: str | None = None) -> None:
        super().__init__()
        self.error = error


class EngineEvent(Message, bubble=False):
    """One engine event (RunStarted, BatchProgress, EpochEnd, …) for queued run `queue_id`."""

    def __init__(self, queue_id: str, event: Any) -> None:
        super().__init__()
        self.queue_id = queue_id
        self.event = event


class RunsChanged(Message, bubble=False):
    """A run started, ended or was deleted: tables and lists should re-read the store.

    The app forwards it to every screen of every mode; screens handle `on_runs_changed`.
    """

    def __init__(self, run_id: str | None = None, status: str | None = None) -> None:
        super().__init__()
        self.run_id = run_id
        self.status = status


class QueueChanged(Message, bubble=False):
    """Runs were queued, started, finished or removed from the queue.

    `starting` names a queued run its lane has just taken up (data loading begins), `ended`
    one the lane is done with, and `status` the trainer's final status — a safety net should
    no RunFinished event arrive.
    """

    def __init__(
        self, ended: str | None = None, status: str | None = None, starting: str | None = None
    ) -> None:
        super().__init__()
        self.ended = ended
        self.status = status
        self.starting = starting


class LaunchFailed(Message, bubble=False):
    """A queued run could not start (bad data, bad model option…); `message` is for people.

    `status` is "failed", or "cancelled" when it was cancelled before its trainer started.
    """

    def __init__(self, queue_id: str, message: str, status: str = "failed") -> None:
        super().__init__()
        self.queue_id = queue_id
        self.message = message
        self.status = status
