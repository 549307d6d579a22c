"""What a queue entry becomes: checked when it is submitted, turned into the engine's own
`Trainer` (a run or a resume) or `SweepRunner` (a sweep) when its lane takes it up.

`check_entry` runs the same checks `cnnlab train` and `cnnlab sweep` run before they start,
so a bad config is refused at submission with field → message errors, never after waiting
in line. `ActiveJob` is one entry on its lane: cancel and interrupt reach its trainer (or
sweep) from any thread, also while it is still being built.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.errors import CnnlabError, ConfigError
from engine.service.queue_store import QueueEntry
from engine.sweeps.slots import Slot

log = logging.getLogger(__name__)

Forward = Callable[[object], None]
REQUEUE = "requeue"  # the outcome of an entry interrupted before its run began


def resume_config(entry: QueueEntry, runs_dir: Path):
    """A resume entry's TrainConfig: the run's saved config ← the entry's overrides."""
    from engine.trainer.resume import resume_config as saved_with

    request = entry.resume or {}
    return saved_with(str(request.get("run_id")), runs_dir, dict(request.get("overrides") or {}))


def check_entry(entry: QueueEntry, runs_dir: Path) -> QueueEntry:
    """Validate `entry` as its command would (ConfigError / RunStoreError for a person) and
    return it with its device and label filled in from what it will run."""
    if entry.kind == "run":
        from engine.trainer.config import TrainConfig

        config = TrainConfig.from_dict(dict(entry.config or {})).ensure_valid()
        _check_weights(config)
        entry.config = config.to_dict()
        entry.device = config.device
        entry.label = entry.label or _run_label(entry.config)
    elif entry.kind == "sweep":
        from engine.sweeps import SweepSpec, planned_configs

        try:
            spec = SweepSpec.from_dict(dict(entry.sweep or {}))
        except (TypeError, ValueError, KeyError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError({"sweep": f"not a sweep spec ({exc})"}) from None
        points = planned_configs(spec)
        entry.sweep, entry.config = spec.to_dict(), spec.base.to_dict()
        entry.device = spec.base.device
        entry.label = entry.label or f"sweep {spec.sweep_id} ({len(points)} runs)"
    elif entry.kind == "search":
        from engine.sweeps.search import SearchSpec, build_search

        try:
            given = SearchSpec.from_dict(dict(entry.sweep or {}))
        except (TypeError, ValueError, KeyError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError({"search": f"not a search spec ({exc})"}) from None
        spec = build_search(
            given.base, given.space, trials=given.trials, objective=given.objective,
            sampler=given.sampler, prune=given.prune,
        )  # fmt: skip
        entry.sweep, entry.config = spec.to_dict(), spec.base.to_dict()
        entry.device = spec.base.device
        entry.label = entry.label or (
            f"{spec.sampler} search {spec.search_id} ({spec.trials} trials, {spec.objective})"
        )
    elif entry.kind == "resume":
        from engine.trainer.resume import prepare_resume

        request = dict(entry.resume or {})
        if not request.get("run_id"):
            raise ConfigError({"run": "which run to resume?"})
        config = resume_config(entry, runs_dir)
        plan = prepare_resume(
            str(request["run_id"]), runs_dir, config, world_size=config.nproc_per_node
        )
        request["run_id"] = plan.run_dir.name
        entry.resume, entry.config, entry.device = request, config.to_dict(), config.device
        entry.label = entry.label or (
            f"resume {plan.run_dir.name} from epoch {plan.done} to {config.epochs}"
        )
    else:
        raise ConfigError({"kind": f"one of run, sweep, resume, search; got {entry.kind!r}"})
    return entry


def _check_weights(config: Any) -> None:
    """Refuse at submission a run whose torchvision weights this engine's hub cache lacks:
    the engine never downloads (the dashboard asks first, `--detach --download-weights`
    fetches them before it submits), so such a run could only fail after its wait."""
    from engine.transfer.hub import find_weights, missing_weights

    name = missing_weights(config.init_from)
    if name is not None:
        try:
            find_weights(name)
        except CnnlabError as exc:
            raise ConfigError({"init_from": str(exc)}) from None


def _run_label(config: dict[str, Any]) -> str:
    name = f"{config.get('name')} · " if config.get("name") else ""
    processes = config.get("nproc_per_node") or 1
    over = f", {processes} processes" if isinstance(processes, int) and processes > 1 else ""
    return (
        f"{name}{config.get('model')} on {config.get('dataset')}, {config.get('epochs')} epochs"
        f"{over}"
    )


def build_job(
    entry: QueueEntry,
    runs_dir: Path,
    slots: list[Slot] | None = None,
    on_slot_free: Callable[[Slot], None] | None = None,
) -> Any:
    """The object that runs `entry` (subscribe / run / cancel / interrupt), made on its
    lane's thread: building validates again and may load a model on the meta device. A
    sweep gets the engine's `slots` (its lanes) and hands each back by `on_slot_free`."""
    from engine.trainer.config import TrainConfig
    from engine.trainer.loop import Trainer

    if entry.kind in ("run", "resume"):
        resume = str((entry.resume or {}).get("run_id")) if entry.kind == "resume" else None
        if entry.kind == "run":
            config = TrainConfig.from_dict(dict(entry.config or {}))
        else:
            config = resume_config(entry, runs_dir)
        if config.nproc_per_node > 1:
            from engine.service.distributed_job import DistributedRun

            return DistributedRun(config, runs_dir, slots or [], resume=resume)
        return Trainer(config, runs_dir=runs_dir, resume=resume)
    if entry.kind == "search":
        from engine.sweeps.search import SearchSpec
        from engine.sweeps.search_runner import SearchRunner

        search = SearchSpec.from_dict(dict(entry.sweep or {}))
        return SearchRunner(search, runs_dir, slots=slots, on_slot_free=on_slot_free)
    from engine.sweeps import SweepRunner, SweepSpec

    spec = SweepSpec.from_dict(dict(entry.sweep or {}))
    return SweepRunner(spec, runs_dir, slots=slots, on_slot_free=on_slot_free)


class ActiveJob:
    """One entry on its lane(s), from the moment a lane takes it up until it ends.

    `slot` is the lane that took it up; a sweep may be offered more (`offer`) while it
    wants them (`wants_lanes`), and calls `release(job, lane name)` for each it is done
    with (from a worker thread).
    `lanes` lists the lanes it holds (kept by the engine's loop thread)."""

    def __init__(
        self,
        entry: QueueEntry,
        slot: Slot,
        release: Callable[[ActiveJob, str], None] | None = None,
    ) -> None:
        self.entry = entry
        self.slot = slot
        self.lane = slot.name
        self.lanes: list[str] = []
        self.stopping: str | None = None  # "cancel" or the interrupt's reason
        self._release = release
        self._lock = threading.Lock()
        self._job: Any = None
        self._offered: list[Slot] = []  # slots offered before the sweep was built

    @property
    def fans_out(self) -> bool:
        """Whether this entry can run on several lanes at once (a sweep, a search)."""
        return self.entry.kind in ("sweep", "search")

    @property
    def gang(self) -> int:
        """The lanes this entry needs together: a run over N processes on GPUs holds one
        per GPU; everything else starts on one."""
        if self.entry.kind not in ("run", "resume"):
            return 1
        from engine.service.distributed_job import lanes_needed

        return lanes_needed(entry_processes(self.entry), self.slot.device)

    def wants_lanes(self) -> bool:
        """Could one more lane start work for this entry now?"""
        if self.stopping is not None or not (self.fans_out or self.gang > 1):
            return False
        with self._lock:
            job = self._job
        if job is None:
            return self.fans_out or len(self.lanes) < self.gang
        return bool(job.wants_slots())

    def offer(self, slot: Slot) -> None:
        """One more lane for a sweep's points (before it is built: it starts with them)."""
        with self._lock:
            job = self._job
            if job is None:
                self._offered.append(slot)
                return
        job.offer_slot(slot)

    def _slot_free(self, slot: Slot) -> None:
        if self._release is not None:
            self._release(self, slot.name)

    @property
    def queue_id(self) -> str:
        return self.entry.queue_id

    def cancel(self) -> None:
        self._stop("cancel")

    def interrupt(self, reason: str) -> None:
        self._stop(reason)

    def _stop(self, how: str) -> None:
        with self._lock:
            if self.stopping is None:
                self.stopping = how
            job = self._job
        if job is not None:
            _apply_stop(job, how)

    def run(self, runs_dir: Path, forward: Forward) -> tuple[str, str | None, list[str]]:
        """Build and run the job here (the lane's thread); returns (status, error, run ids).
        Never raises: every outcome is a status. Stopped before it began: `cancelled`, or
        `REQUEUE` when interrupted (the engine puts it back in the queue)."""
        with self._lock:
            slots = [self.slot, *self._offered]
            self._offered = []
        try:
            job = build_job(self.entry, runs_dir, slots, self._slot_free)
        except CnnlabError as exc:
            return "failed", str(exc), []
        except Exception as exc:  # a bug must not kill the lane
            log.exception("entry %s could not be built", self.queue_id)
            return "failed", f"unexpected error: {exc}", []
        job.subscribe(forward)
        with self._lock:
            self._job = job
            stopping = self.stopping
            late = self._offered  # offered while it was being built
            self._offered = []
        for slot in late:
            job.offer_slot(slot)
        if stopping is not None:
            return ("cancelled" if stopping == "cancel" else REQUEUE), None, []
        try:
            outcome = job.run()
        except CnnlabError as exc:  # e.g. a search another process is running
            return "failed", str(exc), []
        except Exception as exc:  # Trainer.run never raises; a sweep's bug must not either
            log.exception("entry %s crashed", self.queue_id)
            return "failed", f"unexpected error: {exc}", []
        if hasattr(job, "sweep_id"):
            return outcome.status, None, list(outcome.run_ids)
        if not getattr(job, "started", True):  # stopped while waiting for its lanes
            return ("cancelled" if self.stopping == "cancel" else REQUEUE), None, []
        return job.status, (job.summary or {}).get("error"), [job.run_id] if job.run_id else []


def waiting_text(lanes: int) -> str:
    """What a run over several GPUs says while it gathers its lanes (queue listings)."""
    return f"waiting for {lanes} more GPU lane{'s' if lanes != 1 else ''}"


def entry_processes(entry: QueueEntry) -> int:
    """How many processes train a run or resume entry together (its config says)."""
    value = (entry.config or {}).get("nproc_per_node", 1)
    return value if isinstance(value, int) and value > 0 else 1


def _apply_stop(job: Any, how: str) -> None:
    if how == "cancel":
        job.cancel()
    else:
        job.interrupt(how)
