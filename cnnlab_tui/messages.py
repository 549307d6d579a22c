"""Messages between the run queue (engine threads) and the dashboard's screens.

Engine events never touch widgets directly: the runner wraps each one in `EngineEvent` and
posts it to the app (thread-safe), the app updates its run state on the UI thread and
forwards it to the screens. `RunsChanged` tells every screen that the run store changed.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message


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
