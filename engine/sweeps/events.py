"""Events a `SweepRunner` publishes next to the trainer events it forwards.

Subscribers (the CLI printer, the dashboard's queue) see `SweepStarted`, then for each
point `PointStarted` … trainer events … `PointFinished`, and finally `SweepFinished`.
`done`/`total` are what a queue shows as "k/N runs".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SweepStarted:
    """The plan: `total` points, `skipped` of them already completed, on `parallel` slots
    at the start (the engine may add lanes as they free up)."""

    sweep_id: str
    total: int
    skipped: int
    parallel: int
    parallel_note: str | None = None


@dataclass(frozen=True)
class PointStarted:
    """A point's run is about to start; `run_id` is the run it will write (None if it could
    not be created — a PointFinished with the error follows); `lane` the slot it trains on
    when the sweep runs on several (None: one after another)."""

    sweep_id: str
    index: int
    label: str
    seed: int
    done: int
    total: int
    run_id: str | None = None
    lane: str | None = None


@dataclass(frozen=True)
class PointFinished:
    """One point's run ended; `status` is the run's (completed, failed, …)."""

    sweep_id: str
    index: int
    run_id: str | None
    status: str
    error: str | None
    done: int
    total: int
    final: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SweepFinished:
    """`status`: completed (every point has a completed run), incomplete, cancelled or
    interrupted (see SweepRunner.interrupt);
    `failed` counts the points whose run failed or diverged in this invocation."""

    sweep_id: str
    status: str
    completed: int
    failed: int
    total: int
    run_ids: list[str] = field(default_factory=list)
