"""The sweep state file `<runs>/sweeps/<sweep_id>.json`: spec, points and their runs.

It is what makes a sweep resumable: re-running the same command reads it back, asks the
run store how each point's run ended, and runs only the points without a completed run.
The run store stays the truth about runs; this file only remembers which run belongs to
which point (every attempt, newest last).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import RunStoreError
from engine.runs.files import read_json, write_json_atomic
from engine.runs.schema import check_sweep_state
from engine.sweeps.grid import SweepPoint
from engine.sweeps.locks import locked, state_lock_path
from engine.sweeps.spec import SweepSpec

log = logging.getLogger(__name__)

SWEEPS_FOLDER = "sweeps"
STATE_VERSION = 1


@dataclass
class PointState:
    """One point of a sweep and the runs started for it (`attempts`, oldest first)."""

    index: int
    setting: dict[str, Any]
    seed: int
    attempts: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str | None:
        """The latest run started for this point, if any."""
        return self.attempts[-1] if self.attempts else None

    @property
    def point(self) -> SweepPoint:
        return SweepPoint(index=self.index, setting=dict(self.setting), seed=self.seed)


@dataclass
class SweepState:
    """Everything the state file holds."""

    sweep_id: str
    spec: SweepSpec
    points: list[PointState]
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)

    @classmethod
    def new(cls, spec: SweepSpec) -> SweepState:
        points = [PointState(p.index, dict(p.setting), p.seed) for p in spec.points()]
        return cls(sweep_id=spec.sweep_id, spec=spec, points=points)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "sweep_id": self.sweep_id,
            "spec": self.spec.to_dict(),
            "created": self.created,
            "updated": self.updated,
            "points": [
                {
                    "index": p.index,
                    "setting": p.setting,
                    "seed": p.seed,
                    "run_id": p.run_id,
                    "attempts": list(p.attempts),
                }
                for p in self.points
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepState:
        """The state a file holds; ValueError naming the first malformed field."""
        problem = check_sweep_state(data)
        if problem:
            raise ValueError(problem)
        points = [
            PointState(
                index=p["index"],
                setting=dict(p.get("setting") or {}),
                seed=p.get("seed", 0),
                attempts=list(p.get("attempts") or []),
            )
            for p in data.get("points") or []
        ]
        return cls(
            sweep_id=data["sweep_id"],
            spec=SweepSpec.from_dict(data.get("spec") or {}),
            points=points,
            created=float(data.get("created") or 0.0),
            updated=float(data.get("updated") or 0.0),
        )


def sweeps_dir(runs_dir: Path) -> Path:
    return Path(runs_dir) / SWEEPS_FOLDER


def state_path(runs_dir: Path, sweep_id: str) -> Path:
    return sweeps_dir(runs_dir) / f"{sweep_id}.json"


def save_state(runs_dir: Path, state: SweepState) -> Path:
    """Write the state file atomically (temp + rename): a crash leaves the old or new one."""
    path = state_path(runs_dir, state.sweep_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    state.updated = time.time()
    write_json_atomic(path, state.to_dict())
    return path


def load_state(runs_dir: Path, sweep_id: str) -> SweepState:
    """Read one sweep's state; RunStoreError when it is missing or unreadable."""
    path = state_path(runs_dir, sweep_id)
    try:
        found = path.is_file()
    except OSError:  # a name too long to be a file
        found = False
    if not found:
        raise RunStoreError(f"no sweep {sweep_id!r} in {sweeps_dir(runs_dir)}")
    try:
        state = SweepState.from_dict(read_json(path))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RunStoreError(f"sweep state {path} is damaged ({exc})") from None
    if state.sweep_id != sweep_id:
        raise RunStoreError(f"sweep state {path} is damaged (it names another sweep)")
    return state


def load_or_create_state(runs_dir: Path, spec: SweepSpec) -> tuple[SweepState, bool]:
    """The saved state for this spec (resuming) or a fresh one; the flag says which.

    A damaged state file is kept beside the fresh one as `<id>.json.damaged` (each run
    folder still names its sweep in `sweep.json`, so no run is lost from the sweep)."""
    try:
        state = load_state(runs_dir, spec.sweep_id)
    except RunStoreError as exc:
        path = state_path(runs_dir, spec.sweep_id)
        if path.exists():
            log.warning("%s; starting the sweep state afresh (old file kept)", exc)
            with contextlib.suppress(OSError):
                shutil.copyfile(path, path.with_name(path.name + ".damaged"))
        return SweepState.new(spec), False
    if len(state.points) != len(spec.points()):
        log.warning("sweep %s state does not match its spec; starting afresh", spec.sweep_id)
        return SweepState.new(spec), False
    return state, True


def update_state(
    runs_dir: Path, spec: SweepSpec, change: Callable[[SweepState], None] | None = None
) -> SweepState:
    """Read the state file, apply `change`, write it back — all under the sweep's state
    lock, so two copies of a sweep never overwrite each other's run ids."""
    with locked(state_lock_path(sweeps_dir(runs_dir), spec.sweep_id)):
        state, _ = load_or_create_state(runs_dir, spec)
        if change is not None:
            change(state)
        save_state(runs_dir, state)
        return state


def list_sweeps(runs_dir: Path) -> list[SweepState]:
    """Every readable sweep state under `runs_dir`, newest first (damaged ones are logged)."""
    folder = sweeps_dir(runs_dir)
    states: list[SweepState] = []
    if not folder.is_dir():
        return states
    for path in folder.glob("*.json"):
        try:
            state = SweepState.from_dict(read_json(path))
            if state.sweep_id != path.stem:
                raise ValueError(f"it names another sweep, {state.sweep_id[:40]!r}")
            states.append(state)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("skipping damaged sweep state %s (%s)", path, exc)
    return sorted(states, key=lambda state: state.created, reverse=True)
