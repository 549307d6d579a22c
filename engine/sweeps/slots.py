"""Slots: where a sweep's (or a search's) runs train, several at once.

A `Slot` is one place a run can train — a GPU, or a share of the CPU cores — named as the
engine names its lanes. `SlotWorkers` runs work items on slots, one worker thread per slot:
more slots may be offered while it runs (the engine hands a sweep each lane that frees up),
and a slot with nothing left to do is handed back at once (`on_free`), so a sweep never sits
on a lane it cannot use. Each worker binds its thread to its slot first
(`engine.trainer.device.bind_thread`: the CUDA device, the CPU thread count).

Nothing here knows what an item is: grid sweeps hand out their points, searches ask Optuna
for the next trial.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Slot:
    """One place to train: `name` (the engine's lane name, e.g. "cuda:1", "cpu-2"),
    `device` its runs train on (None: as each config says) and `threads`, the CPU threads
    each of its runs may use (None: the process's own setting)."""

    name: str
    device: str | None = None
    threads: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "device": self.device, "threads": self.threads}


class SlotWorkers:
    """Run items from `next_item()` (None: nothing left) with `run_item(item, slot)`, one
    worker thread per slot, until no item is left; `on_free(slot)` is told of each slot a
    worker is done with (from that worker's thread)."""

    def __init__(
        self,
        next_item: Callable[[], Any],
        run_item: Callable[[Any, Slot], None],
        on_free: Callable[[Slot], None] | None = None,
    ) -> None:
        self._next_item = next_item
        self._run_item = run_item
        self._on_free = on_free
        self._lock = threading.Condition()
        self._running = 0
        self._closed = False  # run() has returned: late offers go straight back

    def offer(self, slot: Slot) -> bool:
        """Start a worker on `slot`; False (and the slot handed back) when the work is over."""
        with self._lock:
            if self._closed:
                accepted = False
            else:
                self._running += 1
                accepted = True
        if not accepted:
            self._free(slot)
            return False
        thread = threading.Thread(
            target=self._work, args=(slot,), name=f"slot {slot.name}", daemon=True
        )
        thread.start()
        return True

    def run(self, slots: list[Slot]) -> None:
        """Offer `slots`, then wait until every worker (also those offered later) ended."""
        for slot in slots:
            self.offer(slot)
        with self._lock:
            while self._running:
                self._lock.wait()
            self._closed = True

    def _work(self, slot: Slot) -> None:
        from engine.trainer.device import bind_thread

        try:
            bind_thread(slot.device, slot.threads)
            while True:
                item = self._next_item()
                if item is None:
                    break
                self._run_item(item, slot)
        except Exception:  # run_item reports its own failures; this is a bug
            log.exception("worker on slot %s crashed", slot.name)
        finally:
            self._free(slot)
            with self._lock:
                self._running -= 1
                self._lock.notify_all()

    def _free(self, slot: Slot) -> None:
        if self._on_free is None:
            return
        try:
            self._on_free(slot)
        except Exception:
            log.exception("on_free for slot %s failed", slot.name)
