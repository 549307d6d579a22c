"""Messages between threads (the engine link, screens' workers) and the dashboard's screens.

Engine events never touch widgets directly: the engine link (`cnnlab_tui.engine_link`)
wraps each update from the background engine in `EngineEvent` and posts it to the app
(thread-safe), the app updates its run state on the UI thread and forwards it to the
screens. `EngineAttached` / `EngineLost` say when the link comes and goes. `RunsChanged`
tells every screen that the run store changed; `EngineLoaded` that torch and the engine
have been imported (`cnnlab_tui.engine_import`).

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
    """One engine event (RunStarted, BatchProgress, EpochEnd, QueueState, …) of queue entry
    `queue_id` (None: about the engine or the whole queue)."""

    def __init__(self, queue_id: str | None, event: Any) -> None:
        super().__init__()
        self.queue_id = queue_id
        self.event = event


class EngineAttached(Message, bubble=False):
    """The dashboard is attached to the engine `info` describes (pid, started_at, …);
    `notice` says that a previous engine died (and which runs it left interrupted),
    `started` that this dashboard started it."""

    def __init__(self, info: dict[str, Any], notice: str | None, started: bool) -> None:
        super().__init__()
        self.info = info
        self.notice = notice
        self.started = started


class EngineLost(Message, bubble=False):
    """The link to the engine ended: `reason` says why; `died` when it went away without
    stopping (its runs read interrupted; a new engine is being started); `failed` when no
    engine could be started."""

    def __init__(self, reason: str, *, died: bool = False, failed: bool = False) -> None:
        super().__init__()
        self.reason = reason
        self.died = died
        self.failed = failed


class RunsChanged(Message, bubble=False):
    """A run started, ended or was deleted: tables and lists should re-read the store.

    The app forwards it to every screen of every mode; screens handle `on_runs_changed`.
    """

    def __init__(self, run_id: str | None = None, status: str | None = None) -> None:
        super().__init__()
        self.run_id = run_id
        self.status = status


class QueueChanged(Message, bubble=False):
    """The engine's queue changed (an entry queued, started, moved, finished or removed):
    tables of the queue should redraw from `app.runner`."""


class EntrySubmitted(Message, bubble=False):
    """This dashboard queued `view` (the engine's entry) for `config` (a TrainConfig) or
    `spec` (a SweepSpec): what it asked for, known before the engine says more."""

    def __init__(self, view: dict[str, Any], config: Any = None, spec: Any = None) -> None:
        super().__init__()
        self.view = view
        self.config = config
        self.spec = spec
