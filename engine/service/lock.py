"""One engine per runs folder: an exclusive `flock` on `<runs>/.engine/lock`, held by the
engine for its whole life and dropped by the kernel when it exits, however it exits — so a
lock that can be taken means no engine is alive, whatever files a dead one left behind."""

from __future__ import annotations

import fcntl
import os
import time

from engine.service.paths import EnginePaths


def acquire(paths: EnginePaths, patience: float = 2.0) -> int | None:
    """The locked file descriptor (keep it open to keep the lock), or None when another
    engine holds it. Tries for `patience` seconds: a client's `held` probe holds the lock
    for an instant too."""
    paths.ensure_folder()
    fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + patience
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                return None
            time.sleep(0.05)


def release(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def held(paths: EnginePaths) -> bool:
    """True while an engine (alive, maybe still starting) holds the runs folder's lock."""
    if not paths.lock.exists():
        return False
    try:
        fd = os.open(paths.lock, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock taken just now
    return False
