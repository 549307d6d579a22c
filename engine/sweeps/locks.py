"""File locks that keep two copies of one sweep from running a point twice.

Two `cnnlab sweep` processes (or two dashboards) started with the same spec share one state
file and the same points. Each point has a lock file, `<runs>/sweeps/<sweep_id>.locks/<N>`,
held with `flock` while its run goes, and the state file has one held for every
read-modify-write, so no run id is lost. `flock` locks belong to the open file, so they
also separate threads of one process and vanish with a killed process: a crash never leaves
a sweep locked.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

POLL_SECONDS = 0.2


class FileLock:
    """An exclusive `flock` on one file (created when missing)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self, *, wait: bool = True, should_stop: Callable[[], bool] | None = None) -> bool:
        """Take the lock; `wait=False` returns False at once when another holder has it.

        While waiting, `should_stop()` is asked every `POLL_SECONDS`; True gives up (False).
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._fd = fd
                return True
            except BlockingIOError:
                if not wait or (should_stop is not None and should_stop()):
                    os.close(fd)
                    return False
                time.sleep(POLL_SECONDS)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the lock on `path` for the `with` block (waits for other holders)."""
    lock = FileLock(path)
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


def point_lock_path(sweeps_dir: Path, sweep_id: str, index: int) -> Path:
    return Path(sweeps_dir) / f"{sweep_id}.locks" / str(index)


def state_lock_path(sweeps_dir: Path, sweep_id: str) -> Path:
    return Path(sweeps_dir) / f"{sweep_id}.locks" / "state"
