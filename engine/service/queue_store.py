"""The engine's waiting queue, on disk: `<runs>/.engine/queue.json`, rewritten atomically on
every change, so a queued run survives the engine's restart (or its death).

An entry leaves the queue when a lane takes it up: from then on its run folder is the
truth, and a run the engine was training when it died reads `interrupted` there and waits
for an explicit resume rather than starting again by itself. The file remembers, for the
last `HISTORY_KEPT` entries that left the queue, which runs they made — so a queue id still
names its run after the engine is gone.

    {"version": 1, "next_number": 7,
     "entries": [QueueEntry.to_dict(), …],                      # waiting, in order
     "history": [{"queue_id", "kind", "label", "lane", "run_ids", "status"}, …]}
                                                                # status None: was running
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from engine.runs.files import read_json, write_json_atomic

log = logging.getLogger(__name__)

KINDS = ("run", "sweep", "resume", "search")
MOVES = ("up", "down", "top", "bottom")
FILE_VERSION = 1
HISTORY_KEPT = 200


@dataclass
class QueueEntry:
    """One job waiting for its lane.

    `kind` run: `config` is a TrainConfig dict; sweep: `sweep` is `SweepSpec.to_dict()` (and
    `config` its base, for display); search: `sweep` is `SearchSpec.to_dict()`; resume:
    `resume` = {"run_id", "overrides"} (epochs and any other field a resume may change).
    `device` is the device asked for ("auto", "cpu", "cuda:1"): it decides the lane; `label`
    is what lists show.
    """

    queue_id: str
    kind: str
    device: str = "auto"
    label: str = ""
    submitted_at: float = field(default_factory=time.time)
    config: dict[str, Any] | None = None
    sweep: dict[str, Any] | None = None
    resume: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QueueEntry:
        known = {f.name for f in fields(cls)}
        entry = cls(**{k: v for k, v in data.items() if k in known})
        if entry.kind not in KINDS or not isinstance(entry.queue_id, str):
            raise ValueError(f"not a queue entry: {data!r:.200}")
        return entry


class QueueStore:
    """The ordered entries and the next queue number; `save()` after each change."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.entries: list[QueueEntry] = []
        self.history: list[dict[str, Any]] = []
        self.next_number = 1

    @classmethod
    def load(cls, path: Path) -> QueueStore:
        """The queue as saved; a damaged file is moved aside (never deleted) and logged."""
        store = cls(path)
        if not store.path.exists():
            return store
        try:
            data = read_json(store.path)
            store.entries = [QueueEntry.from_dict(item) for item in data["entries"]]
            store.next_number = max(int(data.get("next_number", 1)), 1)
            store.history = [h for h in data.get("history") or [] if isinstance(h, dict)]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            aside = store.path.with_name(f"{store.path.name}.damaged-{int(time.time())}")
            store.path.replace(aside)
            log.error("queue file %s is unreadable (%s); moved to %s", store.path, exc, aside)
            store.entries = []
        numbers = [_number(e.queue_id) for e in store.entries]
        store.next_number = max([store.next_number, *(n + 1 for n in numbers)])
        return store

    def save(self) -> None:
        data = {
            "version": FILE_VERSION,
            "next_number": self.next_number,
            "entries": [e.to_dict() for e in self.entries],
            "history": self.history[-HISTORY_KEPT:],
        }
        write_json_atomic(self.path, data)

    def take(self, queue_id: str, lane: str) -> QueueEntry:
        """A lane takes the entry up: it leaves the queue and enters the history."""
        entry = self.get(queue_id)
        assert entry is not None
        self.entries.remove(entry)
        self.remember(entry, lane)
        return entry

    def put_back(self, entry: QueueEntry) -> None:
        """An entry stopped before it began goes back to the front of the queue."""
        self.history = [h for h in self.history if h.get("queue_id") != entry.queue_id]
        self.entries.insert(0, entry)
        self.save()

    def remember(self, entry: QueueEntry, lane: str, **changes: Any) -> None:
        """Record (or update) what became of an entry that left the queue: `run_ids`,
        `status` (None while it runs)."""
        record = self.recorded(entry.queue_id)
        if record is None:
            record = {"queue_id": entry.queue_id, "kind": entry.kind, "label": entry.label,
                      "lane": lane, "run_ids": [], "status": None}  # fmt: skip
            self.history.append(record)
        record.update(changes)
        self.history = self.history[-HISTORY_KEPT:]
        self.save()

    def recorded(self, queue_id: str) -> dict[str, Any] | None:
        return next((h for h in reversed(self.history) if h.get("queue_id") == queue_id), None)

    def new_id(self) -> str:
        queue_id = f"q{self.next_number}"
        self.next_number += 1
        return queue_id

    def get(self, queue_id: str) -> QueueEntry | None:
        return next((e for e in self.entries if e.queue_id == queue_id), None)

    def position(self, queue_id: str) -> int:
        """1-based place in the queue (0 when not queued)."""
        ids = [e.queue_id for e in self.entries]
        return ids.index(queue_id) + 1 if queue_id in ids else 0

    def add(self, entry: QueueEntry) -> None:
        self.entries.append(entry)
        self.save()

    def remove(self, queue_id: str) -> QueueEntry | None:
        entry = self.get(queue_id)
        if entry is not None:
            self.entries.remove(entry)
            self.save()
        return entry

    def move(self, queue_id: str, where: str) -> int:
        """Move an entry up, down, to the top or to the bottom; returns its new position."""
        if where not in MOVES:
            raise ValueError(f"move where? one of {', '.join(MOVES)}, got {where!r}")
        entry = self.get(queue_id)
        if entry is None:
            raise KeyError(queue_id)
        index = self.entries.index(entry)
        target = {
            "up": max(index - 1, 0),
            "down": min(index + 1, len(self.entries) - 1),
            "top": 0,
            "bottom": len(self.entries) - 1,
        }[where]
        self.entries.insert(target, self.entries.pop(index))
        self.save()
        return target + 1


def _number(queue_id: str) -> int:
    try:
        return int(queue_id.lstrip("q"))
    except ValueError:
        return 0
