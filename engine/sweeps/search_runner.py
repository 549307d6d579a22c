"""`SearchRunner`: a search that learns — Optuna's TPE sampler picks each trial's values
from the trials so far, the median rule prunes trials at epoch boundaries, and the study
lives in SQLite in the search's folder, so a killed search resumes where it was.

It speaks the sweep events (`SweepStarted`, `PointStarted`/`PointFinished` per trial,
`SweepFinished`), so the CLI printer, the engine and the dashboard follow a search as they
follow a sweep; and, like `SweepRunner`, it runs its trials on slots (the engine's lanes),
several at once — TPE then uses the "constant liar" so parallel trials spread out.

Counting: `trials` is the number of trials that finished on their own — completed, pruned,
failed or diverged. A trial whose run was cancelled, interrupted or lost with a killed
process does not count: it is marked failed in the study and its values are queued again,
so re-running the search (the same command) trains it again and redoes nothing else. One
runner at a time per search (a lock file in its folder), so every trial the study shows as
running when a runner starts was left by one that died.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from engine.errors import CnnlabError
from engine.events import EpochEnd, RunStarted
from engine.runs.files import default_runs_dir
from engine.sweeps.events import PointFinished, PointStarted, SweepFinished, SweepStarted
from engine.sweeps.membership import stamp_summary, write_membership
from engine.sweeps.search import SearchSpec, save_search, search_dir, study_url
from engine.sweeps.slots import Slot, SlotWorkers
from engine.trainer.config import FieldRange, format_value

log = logging.getLogger(__name__)

Subscriber = Callable[[object], None]
COUNTED = "counted"  # user attribute: this trial's outcome is one of the `trials`
PRUNE_STARTUP_TRIALS = 2  # completed trials before the median rule may prune
LOCK_FILE = "lock"


def tpe_startup_trials(trials: int) -> int:
    """Random trials before TPE models the rest: Optuna's 10 would leave a short search
    all random, so a third of the budget, at least 2 and at most 10."""
    return max(2, min(10, trials // 3))


class SearchBusy(CnnlabError):
    """Another process is running this search."""


class SearchRunner:
    """Runs a search's trials until `spec.trials` of them have finished (see the module)."""

    def __init__(
        self,
        spec: SearchSpec,
        runs_dir: Path | str | None = None,
        *,
        slots: Sequence[Slot] | None = None,
        on_slot_free: Callable[[Slot], None] | None = None,
    ) -> None:
        self.spec = spec
        self.sweep_id = spec.search_id
        self.runs_dir = Path(runs_dir) if runs_dir is not None else default_runs_dir()
        self._slots = list(slots) if slots is not None else None
        self._on_slot_free = on_slot_free
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self._stop_reason: str | None = None
        self._active: dict[int, Any] = {}  # trial number → trainer
        self._workers: SlotWorkers | None = None
        self._finished = False
        self._study: Any = None
        self._counted = 0
        self._in_flight = 0
        self._failed = 0
        self._choices: dict[str, dict[str, Any]] = {}  # key → {shown choice: value}

    # ------------------------------------------------------------------ control

    def subscribe(self, fn: Subscriber) -> None:
        self._subscribers.append(fn)

    def cancel(self) -> None:
        self._cancelled.set()
        for trainer in self._trainers():
            trainer.cancel()

    def interrupt(self, reason: str) -> None:
        with self._lock:
            self._stop_reason = self._stop_reason or reason
        self._cancelled.set()
        for trainer in self._trainers():
            trainer.interrupt(reason)

    def _trainers(self) -> list[Any]:
        with self._lock:
            return list(self._active.values())

    def wants_slots(self) -> bool:
        with self._lock:
            if self._finished or self._cancelled.is_set():
                return False
            return self._study is None or self._counted + self._in_flight < self.spec.trials

    def offer_slot(self, slot: Slot) -> None:
        with self._lock:
            workers = self._workers
            if workers is None and not self._finished and self._slots is not None:
                self._slots.append(slot)
                return
        if workers is not None:
            workers.offer(slot)
        elif self._on_slot_free is not None:
            self._on_slot_free(slot)

    # ------------------------------------------------------------------ the search

    def run(self) -> SweepFinished:
        """Run trials until the search has its `trials`; returns (and publishes) the end."""
        with self._locked():
            try:
                return self._run()
            finally:
                with self._lock:
                    self._finished = True

    @contextlib.contextmanager
    def _locked(self):
        folder = search_dir(self.runs_dir, self.sweep_id)
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SearchBusy(
                    f"search {self.sweep_id} is already running in another process"
                ) from None
            yield
        finally:
            os.close(fd)

    def _run(self) -> SweepFinished:
        save_search(self.runs_dir, self.spec)
        study = self._open_study()
        retried = self._requeue_left_running(study)
        with self._lock:
            self._study = study
            self._counted = _count(study)
        done = self._counted
        note = (
            f"{retried} trial(s) left running by a stopped search will run again"
            if retried
            else None
        )
        slots = self._slots if self._slots is not None else [Slot("here")]
        parallel = len(self._slots) if self._slots is not None else 1
        self._publish(SweepStarted(self.sweep_id, self.spec.trials, done, parallel, note))
        with self._lock:
            self._workers = SlotWorkers(self._next_trial, self._run_trial, self._on_slot_free)
            workers = self._workers
        if self._slots is None:  # no lanes given: trials one after another, in this thread
            while (trial := self._next_trial()) is not None:
                self._run_trial(trial, None)
        else:
            workers.run(slots)
        return self._finish()

    def _open_study(self) -> Any:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # the search has its own events
        storage = optuna.storages.RDBStorage(
            study_url(self.runs_dir, self.sweep_id),
            engine_kwargs={"connect_args": {"timeout": 60}},
        )
        parallel = len(self._slots or []) > 1
        if self.spec.sampler == "random":
            sampler = optuna.samplers.RandomSampler(seed=self.spec.base.seed)
        else:
            sampler = optuna.samplers.TPESampler(
                seed=self.spec.base.seed,
                n_startup_trials=tpe_startup_trials(self.spec.trials),
                constant_liar=parallel,
            )
        pruner = (
            optuna.pruners.MedianPruner(n_startup_trials=PRUNE_STARTUP_TRIALS, n_warmup_steps=0)
            if self.spec.prune
            else optuna.pruners.NopPruner()
        )
        return optuna.create_study(
            study_name=self.sweep_id, storage=storage, sampler=sampler, pruner=pruner,
            direction=self.spec.direction, load_if_exists=True,
        )  # fmt: skip

    def _requeue_left_running(self, study: Any) -> int:
        """Trials a killed runner left `running`: failed (not counted), values queued again."""
        from optuna.trial import TrialState

        left = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        for trial in left:
            study.tell(trial.number, state=TrialState.FAIL)
            # (killed before every value was drawn: nothing to repeat, a new trial comes)
            if set(trial.params) == set(self.spec.space):
                study.enqueue_trial(dict(trial.params), user_attrs={"retry_of": trial.number})
            log.info("search %s: trial %d was left running; queued again", self.sweep_id,
                     trial.number)  # fmt: skip
        return len(left)

    def _distributions(self) -> dict[str, Any]:
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        distributions = {}
        for key, value in self.spec.space.items():
            if isinstance(value, FieldRange):
                kind = IntDistribution if value.integer else FloatDistribution
                distributions[key] = kind(value.low, value.high, log=value.log)
            else:
                shown = {format_value(item): item for item in value}
                self._choices[key] = shown
                distributions[key] = CategoricalDistribution(list(shown))
        return distributions

    def _next_trial(self) -> Any:
        """The next trial to run (asked of the study), or None when enough are done or
        running, or the search was stopped."""
        with self._lock:
            if self._cancelled.is_set():
                return None
            if self._counted + self._in_flight >= self.spec.trials:
                return None
            self._in_flight += 1
            study = self._study
        try:
            return study.ask(fixed_distributions=self._distributions())
        except Exception:
            with self._lock:
                self._in_flight -= 1
            raise

    def _values(self, trial: Any) -> dict[str, Any]:
        """The trial's setting as config values (lists back from their shown form)."""
        values = {}
        for key, value in trial.params.items():
            values[key] = self._choices.get(key, {}).get(value, value)
        return values

    def _run_trial(self, trial: Any, slot: Slot | None) -> None:
        """Train one trial's run (on `slot`'s thread) and tell the study how it went."""
        from engine.trainer.loop import Trainer

        setting = self._values(trial)
        point = self.spec.trial_point(trial.number, setting)
        config = self.spec.trial_config(trial.number, setting)
        total = self.spec.trials
        status, error, final, run_id = "failed", None, {}, None
        try:
            trainer = Trainer(config, runs_dir=self.runs_dir)
        except CnnlabError as exc:
            trainer, error = None, str(exc)
        with self._lock:
            done = self._counted
        self._publish(
            PointStarted(self.sweep_id, trial.number, point.label, point.seed, done, total,
                         trainer.run_id if trainer else None, slot.name if slot else None)
        )  # fmt: skip
        if trainer is not None:
            trainer.subscribe(lambda event: self._on_trainer_event(event, trial, point, trainer))
            with self._lock:
                self._active[trial.number] = trainer
            if self._cancelled.is_set():
                self._stop(trainer)
            try:
                trainer.run()
            finally:
                with self._lock:
                    self._active.pop(trial.number, None)
            run_id, status = trainer.run_id, trainer.status
            summary = trainer.summary or {}
            error, final = summary.get("error"), dict(summary.get("final") or {})
            if Path(trainer.run_dir).is_dir():
                stamp_summary(Path(trainer.run_dir), self.sweep_id, point)
        counted = self._tell(trial, status, final)
        with self._lock:
            self._in_flight -= 1
            self._counted += counted
            self._failed += status in ("failed", "diverged")
            done = self._counted
        self._publish(
            PointFinished(self.sweep_id, trial.number, run_id, status, error, done, total, final)
        )

    def _on_trainer_event(self, event: object, trial: Any, point: Any, trainer: Any) -> None:
        if isinstance(event, RunStarted):
            write_membership(Path(event.run_dir), self.sweep_id, point)
            trial.set_user_attr("run_id", event.run_id)
        elif isinstance(event, EpochEnd) and self.spec.prune:
            value = event.metrics.get(self.spec.objective)
            if isinstance(value, (int, float)) and value == value:
                trial.report(float(value), event.epoch)
                if event.epoch < trainer.config.epochs and trial.should_prune():
                    trainer.prune(
                        f"pruned after epoch {event.epoch}: {self.spec.objective} "
                        f"{value:.4g} is worse than the median of earlier trials there"
                    )
        self._publish(event)

    def _tell(self, trial: Any, status: str, final: dict[str, Any]) -> bool:
        """Record the trial's outcome in the study; True when it counts as one of `trials`."""
        from optuna.trial import TrialState

        value = final.get(self.spec.objective)
        if status == "completed" and isinstance(value, (int, float)) and value == value:
            trial.set_user_attr(COUNTED, True)
            trial.study.tell(trial, float(value))
            return True
        if status == "pruned":
            trial.set_user_attr(COUNTED, True)
            trial.study.tell(trial, state=TrialState.PRUNED)
            return True
        if status in ("failed", "diverged", "completed"):  # completed without the objective
            trial.set_user_attr(COUNTED, True)
            trial.set_user_attr("run_status", status)
            trial.study.tell(trial, state=TrialState.FAIL)
            return True
        # cancelled or interrupted: not the trial's fault — run it again next time
        trial.study.tell(trial, state=TrialState.FAIL)
        trial.study.enqueue_trial(dict(trial.params), user_attrs={"retry_of": trial.number})
        return False

    def _stop(self, trainer: Any) -> None:
        if self._stop_reason is not None:
            trainer.interrupt(self._stop_reason)
        else:
            trainer.cancel()

    def _finish(self) -> SweepFinished:
        from optuna.trial import TrialState

        study = self._study
        run_ids = [
            str(t.user_attrs["run_id"])
            for t in study.get_trials(deepcopy=False)
            if t.user_attrs.get("run_id") and t.state != TrialState.WAITING
        ]
        if self._cancelled.is_set():
            outcome = "interrupted" if self._stop_reason else "cancelled"
        else:
            outcome = "completed" if self._counted >= self.spec.trials else "incomplete"
        finished = SweepFinished(  # `completed`: the trials that finished on their own
            self.sweep_id, outcome, self._counted, self._failed, self.spec.trials, run_ids
        )
        self._publish(finished)
        return finished

    def _publish(self, event: object) -> None:
        for fn in list(self._subscribers):
            try:
                fn(event)
            except Exception:
                log.exception("search subscriber %r failed", fn)


def _count(study: Any) -> int:
    """Trials that finished on their own (see the module)."""
    from optuna.trial import TrialState

    finished = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    return sum(
        1
        for t in study.get_trials(deepcopy=False, states=finished)
        if t.state != TrialState.FAIL or t.user_attrs.get(COUNTED)
    )
