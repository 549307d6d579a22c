"""Finding sweeps and their runs on disk: progress for a queue, and `RUN_OR_SWEEP` lookup.

The run store knows runs; the sweep state files know points. These helpers join the two
so callers (the report command, the dashboard's queue) never read state files themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import RunStoreError
from engine.events import FAILED_STATUSES
from engine.sweeps.aggregate import group_runs_by_sweep
from engine.sweeps.membership import read_membership
from engine.sweeps.state import SWEEPS_FOLDER, list_sweeps, load_state, state_path


@dataclass(frozen=True)
class SweepProgress:
    """`done`/`total` points have a completed run; `running`/`failed` count latest runs."""

    sweep_id: str
    done: int
    total: int
    running: int
    failed: int

    @property
    def text(self) -> str:
        """`3/12 runs` — what a queue row shows."""
        return f"{self.done}/{self.total} runs"


def sweep_progress(store: Any, sweep_id: str) -> SweepProgress:
    """How far a sweep has got, from its state file and the run store."""
    state = load_state(Path(store.root), sweep_id)
    statuses = []
    for point in state.points:
        status = "pending"
        if point.run_id and (Path(store.root) / point.run_id).is_dir():
            status = store.get(point.run_id).status
        statuses.append(status)
    return SweepProgress(
        sweep_id,
        done=statuses.count("completed"),
        total=len(statuses),
        running=statuses.count("running"),
        failed=sum(s in FAILED_STATUSES for s in statuses),
    )


def list_sweep_ids(store: Any) -> list[str]:
    """Sweep ids known from state files, newest first."""
    return [state.sweep_id for state in list_sweeps(Path(store.root))]


def sweep_records(store: Any, sweep_id: str, records: Sequence[Any] | None = None) -> list[Any]:
    """The chosen run of each point of one sweep (raises RunStoreError when it has none)."""
    records = store.list_runs() if records is None else records
    for group in group_runs_by_sweep(records):
        if group.sweep_id == sweep_id:
            return group.records
    if state_path(Path(store.root), sweep_id).is_file():
        raise RunStoreError(f"sweep {sweep_id} has no runs yet")
    raise RunStoreError(f"no sweep or run {sweep_id!r} in {store.root}")


def _matching_sweep(store: Any, ref: str, records: Sequence[Any]) -> str | None:
    """The sweep id `ref` names exactly or by a unique prefix, else None."""
    ids = set(list_sweep_ids(store))
    ids.update(m[0] for m in (read_membership(r) for r in records) if m is not None)
    if ref in ids:
        return ref
    matches = sorted(sweep_id for sweep_id in ids if sweep_id.startswith(ref))
    if len(matches) > 1:
        raise RunStoreError(f"{ref!r} matches {len(matches)} sweeps ({', '.join(matches)})")
    return matches[0] if matches else None


def resolve_targets(store: Any, refs: Sequence[str]) -> list[Any]:
    """Run records for `RUN_OR_SWEEP…` arguments, each run once, in the order named.

    A ref is a sweep id (or unique prefix; it expands to its runs) or anything the run
    store resolves (id, prefix, path, `latest`). Unknown refs raise RunStoreError.
    """
    records = [r for r in store.list_runs() if r.run_id != SWEEPS_FOLDER]
    chosen: dict[str, Any] = {}
    for ref in refs:
        if ref in ("latest", "last") and records:  # the newest run, never the sweeps folder
            chosen.setdefault(records[0].run_id, records[0])
            continue
        handled = store.by_handle(ref) if hasattr(store, "by_handle") else None
        if handled is not None:  # a run's name or short id, never read as a sweep prefix
            chosen.setdefault(handled.name, store.get(str(handled)))
            continue
        sweep_id = _matching_sweep(store, ref, records)
        if sweep_id is not None:
            for record in sweep_records(store, sweep_id, records):
                chosen.setdefault(record.run_id, record)
            continue
        record = store.get(ref)
        chosen.setdefault(record.run_id, record)
    return list(chosen.values())
