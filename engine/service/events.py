"""What the engine itself tells its subscribers, beside the run and sweep events it forwards.

A subscriber first gets a snapshot — `QueueState`, then per active entry `EntryStarted`,
the events its runs published so far, `BatchHistory` of the current run, and finally
`SnapshotEnd` — and after it the live stream: the same kinds of event as they happen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class QueueState:
    """Every entry (running first, then queued in order) as the engine shows it, and the
    lanes: `{"name", "busy": queue id | None}`. Sent on every change of either."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    lanes: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class EntryStarted:
    """Lane `lane` took entry `queue_id` up (its runs' events follow, tagged with it)."""

    queue_id: str
    kind: str
    lane: str
    label: str


@dataclass(frozen=True)
class EntryFinished:
    """The lane is done with entry `queue_id`: `status` is its run's final status (a sweep's
    outcome for a sweep); `error` says why when it could not even start."""

    queue_id: str
    status: str
    error: str | None = None
    run_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BatchHistory:
    """Rows of `batches.jsonl` a run wrote before this subscriber attached: `{epoch, batch,
    step, loss, batch_loss?, images_per_second}` each, oldest first, in chunks."""

    run_id: str
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class SnapshotEnd:
    """The snapshot is complete; what follows is live."""

    queue_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class GpuTelemetry:
    """The GPUs now (about once a second), only to subscribers that asked (`subscribe
    {telemetry: true}`): `available` False with `message` saying why there are none;
    `gpus` = [{index, uuid, name, utilisation %, memory_used, memory_total (bytes),
    temperature °C, power W, processes: [{pid, memory}]}], `history` / `memory_history`:
    per GPU index (as text) its last minute of utilisation / memory used, oldest first."""

    available: bool
    message: str | None = None
    gpus: list[dict[str, Any]] = field(default_factory=list)
    history: dict[str, list[Any]] = field(default_factory=dict)
    memory_history: dict[str, list[Any]] = field(default_factory=dict)
    taken_at: float = 0.0


@dataclass(frozen=True)
class EngineStopping:
    """The engine is shutting down (`reason`: idle, stop, SIGTERM…); runs still active end
    as `interrupted` (SIGTERM) or `cancelled` (stop --cancel) before it exits."""

    reason: str
