"""`app.runner`: the dashboard's view of the background engine's queue, and its commands.

Training happens in the engine of the runs folder (`engine.service`), so it outlives the
dashboard, the terminal and the SSH link, and every dashboard (and `cnnlab watch`) sees the
same runs. The runner keeps what the screens read — one `QueuedRun` per entry the engine
has had since this dashboard attached (`queue_items`) — folded from the engine's updates
on the UI thread (`apply`, called by the app for each `EngineEvent` the link posts).

Its commands (`submit_run`, `submit_sweep`, `submit_search`, `submit_resume`, `cancel`, `move`,
`cancel_all`) talk to the engine: call them from thread workers only, never the UI thread.
A submission takes a `TrainConfig` (or a `SweepSpec`): the engine validates it once and
answers with field → message errors (`ConfigError`) or the queued entry.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from textual.app import App

from cnnlab_tui.engine_link import EngineLink
from cnnlab_tui.messages import EngineEvent, EntrySubmitted, QueueChanged
from cnnlab_tui.queue_items import (
    ACTIVE_STATES,
    FINAL_STATUSES,
    LOG_LINES_KEPT,
    QueuedRun,
    QueuedSweep,
    queued_item,
)

__all__ = [
    "ACTIVE_STATES",
    "FINAL_STATUSES",
    "LOG_LINES_KEPT",
    "QueuedRun",
    "QueuedSweep",
    "RunQueue",
]

log = logging.getLogger(__name__)


class RunQueue:
    """The engine's queue as this dashboard sees it (the `app.runner` API)."""

    def __init__(self, app: App, runs_dir: Path) -> None:
        self._app = app
        self.runs_dir = Path(runs_dir)
        self.link = EngineLink(self.runs_dir, app.post_message)
        self._runs: dict[str, QueuedRun] = {}  # every entry seen since attaching, in order
        self._started: list[str] = []  # queue ids in the order their lanes took them
        self._last_event: str | None = None  # queue id of the entry that last reported
        self._listed: set[str] = set()  # the queue ids of the engine's last QueueState
        self._unseen_endings: list[QueuedRun] = []  # ended before we heard: to announce
        self.lanes: list[dict[str, Any]] = []
        self.engine_info: dict[str, Any] = {}  # the attached engine (pid, …); {} when none
        self.attached = False
        self.synced = False  # the snapshot after attaching has arrived in full

    # -- what screens read (UI thread) ------------------------------------------------
    @property
    def queue(self) -> list[QueuedRun]:
        """Entries waiting for their lane, in the engine's order."""
        waiting = [r for r in self._runs.values() if r.state == "queued"]
        return sorted(waiting, key=lambda r: r.position or 1 << 30)

    @property
    def running(self) -> list[QueuedRun]:
        """Entries a lane has taken up (loading data, training or stopping)."""
        return [r for r in self._runs.values() if r.state in ACTIVE_STATES]

    @property
    def runs(self) -> list[QueuedRun]:
        """Every entry seen since attaching: running, then queued, then finished ones."""
        finished = [r for r in self._runs.values() if r.state == "finished"]
        return self.running + self.queue + finished

    @property
    def submitted(self) -> list[QueuedRun]:
        """The entries this dashboard queued, in order."""
        return [r for r in self._runs.values() if r.submitted_here]

    @property
    def active(self) -> bool:
        """True while the engine has anything running or waiting to run."""
        return any(run.active for run in self._runs.values())

    @property
    def active_count(self) -> int:
        return sum(run.active for run in self._runs.values())

    @property
    def current(self) -> QueuedRun | None:
        """The entry Live follows: the latest started, else the next queued, else the one
        that reported last."""
        for qid in reversed(self._started):
            run = self._runs.get(qid)
            if run is not None and run.state in ACTIVE_STATES:
                return run
        waiting = self.queue
        if waiting:
            return waiting[0]
        return self._runs.get(self._last_event) if self._last_event else None

    def get(self, queue_id: str) -> QueuedRun | None:
        return self._runs.get(queue_id)

    # -- the engine's updates (UI thread) -------------------------------------------------
    def apply(self, message: EngineEvent) -> QueuedRun | None:
        """Fold one update into the state; returns the entry it was about (or None)."""
        from engine.service.events import EntryFinished, EntryStarted, QueueState, SnapshotEnd

        event = message.event
        match event:
            case QueueState():
                self._show_queue(event)
                return None
            case SnapshotEnd():
                self.synced = True
                self._settle_unlisted()
                return None
        if message.queue_id is None:
            return None
        run = self._entry(message.queue_id, getattr(event, "kind", "run"))
        self._last_event = run.queue_id
        match event:
            case EntryStarted():
                if run.queue_id in self._started:
                    self._started.remove(run.queue_id)
                self._started.append(run.queue_id)
                run.apply(event)
            case EntryFinished():
                if run.is_sweep and event.run_ids:
                    run.run_ids = list(event.run_ids)
                run.finish(event.status, event.error)
            case _:
                run.apply(event)
        return run

    def take_unseen_endings(self) -> list[QueuedRun]:
        """The entries found ended without their EntryFinished since the last call (the
        app announces them as it would have announced their end)."""
        found, self._unseen_endings = self._unseen_endings, []
        return found

    def _entry(self, queue_id: str, kind: str) -> QueuedRun:
        run = self._runs.get(queue_id)
        if run is None:
            run = self._runs[queue_id] = queued_item(queue_id, kind)
        return run

    def _show_queue(self, state: Any) -> None:
        self.lanes = [dict(lane) for lane in state.lanes]
        self._listed = set()
        for view in state.entries:
            queue_id = str(view.get("queue_id"))
            self._listed.add(queue_id)
            self._entry(queue_id, str(view.get("kind") or "run")).show(view)
        if self.synced:
            self._settle_unlisted()

    def _settle_unlisted(self) -> None:
        """Entries the engine no longer lists ended without this dashboard hearing it (a
        run that failed at once, before its subscription was up): their outcome is what
        the engine's queue history and the run folder say."""
        for run in self._runs.values():
            if run.state == "finished" or run.queue_id in self._listed:
                continue
            outcome = ended_unseen(self.runs_dir, run.queue_id)
            if outcome is not None:
                status, error, run_ids = outcome
                run.run_id = run.run_id or (run_ids[0] if run_ids else None)
                if run.is_sweep and run_ids:
                    run.run_ids = list(run_ids)
                run.finish(status, error)
                self._unseen_endings.append(run)
                self._last_event = run.queue_id  # its end is the latest news: Live shows it
            elif run.state == "queued":
                run.finish("cancelled", "removed from the queue")

    def note_submitted(self, message: EntrySubmitted) -> QueuedRun:
        """What this dashboard asked for, on its entry (UI thread)."""
        view = message.view
        run = self._entry(str(view["queue_id"]), str(view.get("kind") or "run"))
        run.show(view)
        run.submitted_here = True
        if message.config is not None and not run.config:
            run.config = message.config.to_dict()
        if message.spec is not None and isinstance(run, QueuedSweep):
            spec = message.spec
            run.config = run.config or spec.base.to_dict()
            if hasattr(spec, "search_id"):  # a search: its trials are the points
                run.sweep_id, run.total = spec.search_id, run.total or spec.trials
            else:
                run.sweep_id = spec.sweep_id
                run.total = run.total or len(spec.points())
        return run

    def attached_to(self, info: dict[str, Any]) -> None:
        """A (new) engine answers: its snapshot follows and says what it has (UI thread)."""
        self.engine_info, self.attached, self.synced = dict(info), True, False

    def engine_lost(self, reason: str) -> list[QueuedRun]:
        """The engine went away: what it was running ends `interrupted` (its runs read so
        in the run store); what it had queued stays on disk for the next engine."""
        self.attached, self.synced, self.engine_info = False, False, {}
        ended = [run for run in self._runs.values() if run.state in ACTIVE_STATES]
        for run in ended:
            run.finish("interrupted", reason)
        return ended

    # -- commands (thread workers only) ---------------------------------------------------
    def submit_run(self, config: Any) -> dict[str, Any]:
        """Queue one run of `config` (a TrainConfig); returns the engine's view of the
        entry. ConfigError with the engine's field messages when it does not validate."""
        view = self.link.request(lambda engine: engine.submit_run(config.to_dict()))
        self._app.post_message(EntrySubmitted(view, config=config))
        return view

    def submit_sweep(self, spec: Any) -> dict[str, Any]:
        """Queue the sweep `spec` (an engine SweepSpec: its resolved base config and the
        parsed grid) as one entry; ConfigError naming a point the engine refuses."""
        view = self.link.request(lambda engine: engine.submit_sweep(spec.to_dict()))
        self._app.post_message(EntrySubmitted(view, spec=spec))
        return view

    def submit_search(self, spec: Any) -> dict[str, Any]:
        """Queue the search `spec` (an engine SearchSpec, checked by `build_search`) as one
        entry: the engine runs its trials as a sweep's points, on its free lanes."""
        view = self.link.request(lambda engine: engine.submit_search(spec.to_dict()))
        self._app.post_message(EntrySubmitted(view, spec=spec))
        return view

    def telemetry(self) -> dict[str, Any]:
        """The engine's GPU telemetry (`engine.telemetry` snapshot dict); without an
        attached engine, one line saying so — asking never starts an engine."""
        if not self.attached:
            return {"available": False, "message": "GPUs: waiting for the engine"}
        return self.link.request(lambda engine: engine.telemetry())

    def submit_resume(self, run_id: str, epochs: int) -> dict[str, Any]:
        """Queue the continuation of run `run_id` up to `epochs` epochs in all."""
        view = self.link.request(lambda engine: engine.submit_resume(run_id, epochs))
        self._app.post_message(EntrySubmitted(view))
        return view

    def cancel(self, queue_id: str) -> str:
        """Remove a queued entry or cancel a running one; returns what it was (queued or
        running). A cancelled run is saved as cancelled, its finished epochs kept."""
        answer = self.link.request(lambda engine: engine.cancel(queue_id))
        self._app.post_message(QueueChanged())
        return str(answer.get("was"))

    def move(self, queue_id: str, where: str) -> int:
        """Move a queued entry up, down, top or bottom; returns its new position."""
        return self.link.request(lambda engine: engine.move(queue_id, where))

    def cancel_all(self, queue_ids: list[str]) -> list[str]:
        """Cancel `queue_ids`, the queued ones first (so none starts meanwhile); returns
        the errors, one line per entry the engine refused."""
        from engine.errors import CnnlabError

        errors = []
        for queue_id in queue_ids:
            try:
                self.link.request(lambda engine, q=queue_id: engine.cancel(q))
            except CnnlabError as exc:
                errors.append(f"{queue_id}: {exc}")
        return errors


def ended_unseen(runs_dir: Path, queue_id: str) -> tuple[str, str | None, list[str]] | None:
    """(status, error, run ids) of an entry that left the engine's queue, from its history
    (`queue.json`) and, for a run, its folder's summary; None while it has no final status
    there (it was never taken up, or the engine stopped while it ran)."""
    from engine.runs import RunStore
    from engine.service.client import recorded_entry

    record = recorded_entry(runs_dir, queue_id)
    if not record or not record.get("status"):
        return None
    run_ids = [str(r) for r in record.get("run_ids") or []]
    error = record.get("error")
    if error is None and len(run_ids) == 1 and record.get("kind") != "sweep":
        try:
            error = RunStore(runs_dir).get(run_ids[0]).summary.get("error")
        except Exception:  # a folder gone or damaged: the status alone
            error = None
    return str(record["status"]), error, run_ids
