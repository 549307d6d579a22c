"""Lanes: where the engine's jobs run — one worker thread per lane, one job at a time.

Today there is one lane per device key (`engine.trainer.device.device_key`): a run asking for
`auto` or `cuda` goes to `cuda:0` on a GPU machine and to `cpu` on a machine without one, and
a run pinned to `cuda:1` gets that lane. Lanes are made on first use.

The seams for many lanes (one per GPU, `--cpu-lanes N` splitting the cores) are
`LaneSet.place`, which picks the lane for an entry's device among free ones, and `Lane`'s
`device`, which the job could be told to use: a placement that spreads `auto` over several
lanes changes only those two.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from engine.service.jobs import ActiveJob

log = logging.getLogger(__name__)

# (job, status, error, run ids) — called on the lane's thread when a job ends
Done = Callable[[ActiveJob, str, "str | None", list[str]], None]


def lane_key(device: str) -> str:
    """The lane a device request runs in: one per physical device."""
    from engine.trainer.device import device_key

    return device_key(device)


class Lane:
    """A worker thread that runs the jobs it is given, one after another."""

    def __init__(self, name: str, run_job: Callable[[ActiveJob], tuple], done: Done) -> None:
        self.name = name
        self.device = name
        self.job: ActiveJob | None = None  # set and cleared by the engine's loop thread
        self._run_job = run_job
        self._done = done
        self._inbox: queue.Queue[ActiveJob | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name=f"lane {name}", daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        return self.job is not None

    def start(self, job: ActiveJob) -> None:
        self.job = job
        self._inbox.put(job)

    def close(self) -> None:
        """No more jobs: the thread ends after the one it runs."""
        self._inbox.put(None)

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _work(self) -> None:
        while True:
            job = self._inbox.get()
            if job is None:
                return
            try:
                status, error, run_ids = self._run_job(job)
            except Exception as exc:  # ActiveJob.run does not raise; belt and braces
                log.exception("lane %s: job %s crashed", self.name, job.queue_id)
                status, error, run_ids = "failed", f"unexpected error: {exc}", []
            self._done(job, status, error, run_ids)


class LaneSet:
    """The engine's lanes by name."""

    def __init__(self, run_job: Callable[[ActiveJob], tuple], done: Done) -> None:
        self._run_job = run_job
        self._done = done
        self.lanes: dict[str, Lane] = {}

    def place(self, device: str) -> str:
        """The lane an entry asking for `device` waits for."""
        return lane_key(device)

    def get(self, name: str) -> Lane:
        if name not in self.lanes:
            self.lanes[name] = Lane(name, self._run_job, self._done)
        return self.lanes[name]

    def busy(self) -> list[Lane]:
        return [lane for lane in self.lanes.values() if lane.busy]

    def describe(self) -> list[dict]:
        return [
            {"name": lane.name, "busy": lane.job.queue_id if lane.job else None}
            for lane in self.lanes.values()
        ]

    def close(self, timeout: float) -> bool:
        """Stop every lane's thread (after its job); True when all ended within `timeout`."""
        for lane in self.lanes.values():
            lane.close()
        return all(lane.join(timeout) for lane in self.lanes.values())
