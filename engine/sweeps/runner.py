"""`SweepRunner`: run every point of a sweep, resumably, one after another or several at
once on slots (one per GPU, or the engine's lanes).

Each point is an ordinary run (the trainer and its run writer do all the work); the runner
only decides which points still need a run, tags each run folder with its sweep, keeps the
state file current, and forwards the trainer's events to its own subscribers. Given slots
(`engine.sweeps.slots`), its points fan out over them — the engine offers a sweep every
lane that frees up (`offer_slot`) and gets back each one it has no point left for.

Two copies of the same sweep (two terminals, two dashboards) share the work instead of
doing it twice: a point runs only while its lock is held (`engine.sweeps.locks`), a copy
that finds a point locked goes on with the next one and comes back to it at the end, and
a point that got a run while this copy waited is not run again. Every state-file change is
a locked read-modify-write, so each copy's run ids are kept.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import CnnlabError, RunStoreError
from engine.events import FAILED_STATUSES
from engine.runs.files import default_runs_dir
from engine.sweeps.events import PointFinished, PointStarted, SweepFinished, SweepStarted
from engine.sweeps.grid import SweepPoint
from engine.sweeps.locks import FileLock, point_lock_path
from engine.sweeps.membership import stamp_summary, write_membership
from engine.sweeps.slots import Slot, SlotWorkers
from engine.sweeps.spec import SweepSpec, planned_configs
from engine.sweeps.state import SweepState, load_or_create_state, sweeps_dir, update_state

log = logging.getLogger(__name__)

Subscriber = Callable[[object], None]


@dataclass(frozen=True)
class PlannedPoint:
    """A point, its config, and what the run store says about its latest run."""

    point: SweepPoint
    config: Any  # TrainConfig
    run_id: str | None
    status: str  # the latest run's status, or "pending" when it has none

    @property
    def needs_run(self) -> bool:
        return self.status != "completed"


def effective_parallel(requested: int, device: str) -> tuple[int, str | None]:
    """How many runs can go at once, and why fewer than asked (None when as asked).

    Runs in parallel only make sense one per CUDA device: two runs on one CPU or one GPU
    just share it and each gets slower.
    """
    if requested <= 1:
        return 1, None
    if device not in ("auto", "cuda"):
        return 1, (
            f"--parallel {requested}: device {device} is a single device, so the runs go "
            "one after another"
        )
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count < 2:
        where = "no CUDA device" if count == 0 else "one CUDA device"
        return 1, (
            f"--parallel {requested}: this machine has {where}, so the runs go one after "
            "another (parallel runs would only share the same processor)"
        )
    if requested > count:
        return count, f"--parallel {requested}: only {count} CUDA devices, so {count} at a time"
    return requested, None


class SweepRunner:
    """Runs a sweep's points that have no completed run yet (see `plan`).

    `slots`: run the points on these (one worker thread each, more via `offer_slot`),
    telling `on_slot_free` of each slot the sweep is done with; without slots, `parallel`
    > 1 makes one slot per CUDA device (`effective_parallel`), else the points run one
    after another in the calling thread.
    """

    def __init__(
        self,
        spec: SweepSpec,
        runs_dir: Path | str | None = None,
        *,
        parallel: int = 1,
        slots: Sequence[Slot] | None = None,
        on_slot_free: Callable[[Slot], None] | None = None,
    ) -> None:
        self.spec = spec
        self.sweep_id = spec.sweep_id
        self.runs_dir = Path(runs_dir) if runs_dir is not None else default_runs_dir()
        self.requested_parallel = parallel
        self._slots = list(slots) if slots is not None else None
        self._on_slot_free = on_slot_free
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self._stop_reason: str | None = None  # interrupt(): runs end interrupted
        self._active: dict[int, Any] = {}
        self._state: SweepState | None = None
        self._done = 0
        self._failed = 0  # points whose run failed or diverged in this invocation
        self._todo: deque[PlannedPoint] | None = None  # points not yet started
        self._workers: SlotWorkers | None = None
        self._finished = False

    def subscribe(self, fn: Subscriber) -> None:
        """`fn(event)` gets sweep events and every trainer event, from the running thread."""
        self._subscribers.append(fn)

    def cancel(self) -> None:
        """Stop the runs in progress (each within a batch) and start no more."""
        self._cancelled.set()
        with self._lock:
            trainers = list(self._active.values())
        for trainer in trainers:
            trainer.cancel()

    def interrupt(self, reason: str) -> None:
        """Like `cancel`, but the runs in progress end `interrupted` (see Trainer.interrupt)
        and the sweep `interrupted`; running the same sweep again resumes it."""
        with self._lock:
            self._stop_reason = self._stop_reason or reason
            trainers = list(self._active.values())
        self._cancelled.set()
        for trainer in trainers:
            trainer.interrupt(reason)

    def plan(self) -> list[PlannedPoint]:
        """Every point with its config and the status of its latest run (validates first)."""
        configs = planned_configs(self.spec)
        state, _ = load_or_create_state(self.runs_dir, self.spec)
        self._state = state
        planned = []
        for (point, config), point_state in zip(configs, state.points, strict=True):
            run_id = point_state.run_id
            planned.append(PlannedPoint(point, config, run_id, self._run_status(run_id)))
        return planned

    def run(self) -> SweepFinished:
        """Run the points that need it; returns (and publishes) the sweep's outcome."""
        planned = self.plan()
        todo = [p for p in planned if p.needs_run]
        total = len(planned)
        self._done = total - len(todo)
        device = planned[0].config.device if planned else "auto"
        slots, note = self._slots, None
        if slots is None:
            parallel, note = effective_parallel(self.requested_parallel, device)
            if parallel > 1:
                slots = [Slot(f"cuda:{i}", f"cuda:{i}") for i in range(parallel)]
        if note:
            log.info(note)
        self._state = update_state(self.runs_dir, self.spec)  # create it, keep what is there
        self._publish(SweepStarted(self.sweep_id, total, self._done, len(slots or [1]), note))
        try:
            if slots is None:
                busy = [item for item in todo if not self._claimed_run(item, total, None, False)]
                for item in busy:  # running in another copy of this sweep: wait, then look again
                    self._claimed_run(item, total, None, True)
            else:
                self._run_on_slots(todo, total, slots)
        finally:
            with self._lock:
                self._finished = True
        return self._finish(total)

    def _run_on_slots(self, todo: list[PlannedPoint], total: int, slots: list[Slot]) -> None:
        with self._lock:
            self._todo = deque(todo)
            self._workers = SlotWorkers(
                self._next_point, lambda item, slot: self._claimed_run(item, total, slot, True),
                self._on_slot_free,
            )  # fmt: skip
            workers = self._workers
        workers.run(slots)

    def _next_point(self) -> PlannedPoint | None:
        with self._lock:
            if self._cancelled.is_set() or not self._todo:
                return None
            return self._todo.popleft()

    def wants_slots(self) -> bool:
        """Could another slot start a point now? (True before the plan is made.)"""
        with self._lock:
            if self._finished or self._cancelled.is_set():
                return False
            return self._todo is None or bool(self._todo)

    def offer_slot(self, slot: Slot) -> None:
        """One more slot for this sweep's points (the engine's lane that just freed up);
        handed straight back through `on_slot_free` when no point is left for it."""
        with self._lock:
            workers = self._workers
            if workers is None and not self._finished and self._slots is not None:
                self._slots.append(slot)  # run() has not begun: it starts with it
                return
        if workers is not None:
            workers.offer(slot)
        elif self._on_slot_free is not None:
            self._on_slot_free(slot)

    def _claimed_run(self, item: PlannedPoint, total: int, slot: Slot | None, wait: bool) -> bool:
        """Run `item` under its point lock; False when another copy holds it (`wait=False`).

        Once the lock is held, the state file is read again: a point that got a new run
        since the plan (another copy ran it while this one waited) is reported, not re-run.
        """
        if self._cancelled.is_set():
            return True
        lock = FileLock(point_lock_path(sweeps_dir(self.runs_dir), self.sweep_id, item.point.index))
        if not lock.acquire(wait=wait, should_stop=self._cancelled.is_set):
            return wait  # cancelled while waiting counts as handled
        try:
            latest = self._latest_run_id(item.point.index)
            if latest != item.run_id:
                self._report_elsewhere(item, latest, total)
            elif not self._cancelled.is_set():
                self._run_point(item, total, slot)
        finally:
            lock.release()
        return True

    def _latest_run_id(self, index: int) -> str | None:
        state = update_state(self.runs_dir, self.spec)
        with self._lock:
            self._state = state
        return state.points[index].run_id

    def _report_elsewhere(self, item: PlannedPoint, run_id: str | None, total: int) -> None:
        """A point another copy of the sweep ran while this one waited for it."""
        status = self._run_status(run_id)
        with self._lock:
            self._done += status == "completed"
            done = self._done
        log.info("sweep %s point %d was run by another copy (%s)", self.sweep_id,
                 item.point.index, run_id)  # fmt: skip
        self._publish(
            PointFinished(self.sweep_id, item.point.index, run_id, status, None, done, total, {})
        )

    def _run_point(self, item: PlannedPoint, total: int, slot: Slot | None) -> None:
        """Run one point to its end (on `slot`'s thread, bound to it); every outcome ends in
        one PointFinished event."""
        from engine.trainer.loop import Trainer

        point = item.point
        run_id, status, error, final = None, "failed", None, {}
        try:
            trainer = Trainer(item.config, runs_dir=self.runs_dir)
        except CnnlabError as exc:  # validated in plan(), so only a changed machine gets here
            trainer, error = None, str(exc)
            log.warning("sweep %s point %d: %s", self.sweep_id, point.index, exc)
        self._publish(
            PointStarted(
                self.sweep_id, point.index, point.label, point.seed, self._done, total,
                trainer.run_id if trainer else None, slot.name if slot else None,
            )
        )  # fmt: skip
        if trainer is not None:
            trainer.subscribe(lambda event: self._on_trainer_event(event, point))
            with self._lock:
                self._active[point.index] = trainer
            if self._cancelled.is_set():
                self._stop(trainer)
            try:
                trainer.run()
            finally:
                with self._lock:
                    self._active.pop(point.index, None)
            run_id, status = trainer.run_id, trainer.status
            summary = trainer.summary or {}
            error, final = summary.get("error"), dict(summary.get("final") or {})
            if Path(trainer.run_dir).is_dir():
                stamp_summary(Path(trainer.run_dir), self.sweep_id, point)
        with self._lock:
            self._done += status == "completed"
            self._failed += status in FAILED_STATUSES
            done = self._done
        self._publish(
            PointFinished(self.sweep_id, point.index, run_id, status, error, done, total, final)
        )

    def _on_trainer_event(self, event: object, point: SweepPoint) -> None:
        from engine.events import RunStarted

        if isinstance(event, RunStarted):
            write_membership(Path(event.run_dir), self.sweep_id, point)

            def add_attempt(state: SweepState) -> None:
                attempts = state.points[point.index].attempts
                if event.run_id not in attempts:
                    attempts.append(event.run_id)

            state = update_state(self.runs_dir, self.spec, add_attempt)
            with self._lock:
                self._state = state
        self._publish(event)

    def _finish(self, total: int) -> SweepFinished:
        state = load_or_create_state(self.runs_dir, self.spec)[0]  # other copies' runs too
        run_ids, completed = [], 0
        for point_state in state.points:
            status = self._run_status(point_state.run_id)
            if point_state.run_id:
                run_ids.append(point_state.run_id)
            completed += status == "completed"
        if self._cancelled.is_set():
            outcome = "interrupted" if self._stop_reason else "cancelled"
        else:
            outcome = "completed" if completed == total else "incomplete"
        finished = SweepFinished(self.sweep_id, outcome, completed, self._failed, total, run_ids)
        self._publish(finished)
        return finished

    def _stop(self, trainer: Any) -> None:
        if self._stop_reason is not None:
            trainer.interrupt(self._stop_reason)
        else:
            trainer.cancel()

    def _record(self, run_id: str | None):
        if not run_id:
            return None
        from engine.runs.store import read_run

        path = self.runs_dir / run_id
        return read_run(path) if path.is_dir() else None

    def _run_status(self, run_id: str | None) -> str:
        try:
            record = self._record(run_id)
        except (OSError, RunStoreError):
            record = None
        if record is None:
            return "pending" if run_id is None else "missing"
        return record.status

    def _publish(self, event: object) -> None:
        for fn in list(self._subscribers):
            try:
                fn(event)
            except Exception:  # a subscriber must never stop the sweep
                log.exception("sweep subscriber %r failed", fn)
