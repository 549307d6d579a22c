"""Real engines for tests: started detached by the client exactly as the CLI starts them,
in a temporary runs folder, one torch thread, and always stopped at the end (SIGKILL as the
last resort), so no test leaves a process behind or hangs."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from engine.service import lock
from engine.service.client import EngineClient, Update
from engine.service.paths import EnginePaths

REPO = Path(__file__).resolve().parents[1]
WAIT = 120.0  # seconds any wait in these tests may take before it fails


def tiny_config(**changes: Any) -> dict[str, Any]:
    """A run of a few seconds: synthetic shapes, 16 px, 4 batches an epoch, on the CPU."""
    config = {
        "dataset": "shapes",
        "image_size": 16,
        "model": "conv",
        "model_options": {"widths": [8, 16]},
        "epochs": 2,
        "batch_size": 50,
        "device": "cpu",
        "max_train_batches": 4,
    }
    config.update(changes)
    return config


def wait_for(condition: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def engine_pid(runs: Path) -> int | None:
    try:
        return json.loads(EnginePaths.of(runs).info.read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None


def stop_engine(runs: Path) -> None:
    """SIGTERM the engine of `runs` and wait; SIGKILL when it will not go."""
    paths = EnginePaths.of(runs)
    pid = engine_pid(runs)
    if pid is None or not lock.held(paths):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while lock.held(paths) and time.monotonic() < deadline:
        time.sleep(0.05)
    if lock.held(paths):
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not lock.held(paths), "the killed engine's lock to drop")


@contextmanager
def running_engine(runs: Path, idle_timeout: float = 0, **lanes: Any) -> Iterator[EngineClient]:
    """A client of a freshly started engine for `runs` (`lanes`: devices=, cpu_lanes=); the
    engine is stopped afterwards."""
    client = EngineClient.connect(
        runs, start=True, idle_timeout=idle_timeout, client="test", **lanes
    )
    try:
        yield client
    finally:
        client.close()
        stop_engine(runs)


def collect(subscription, until: Callable[[Update], bool], timeout: float = WAIT) -> list:
    """Updates until `until(update)` is true (that one included)."""
    updates: list[Update] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        update = subscription.next(timeout=1.0)
        if update is None:
            continue
        updates.append(update)
        if until(update):
            return updates
    raise AssertionError(
        f"timed out; last updates: {[type(u.event).__name__ for u in updates[-5:]]}"
    )


def finished(queue_id: str) -> Callable[[Update], bool]:
    return lambda u: type(u.event).__name__ == "EntryFinished" and u.queue_id == queue_id


class Raw:
    """A hand-driven connection to the engine's socket, to send it anything at all."""

    def __init__(self, runs: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(str(EnginePaths.of(runs).socket()))
        self._file = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, message: dict[str, Any]) -> None:
        self.send(json.dumps(message).encode() + b"\n")

    def line(self) -> dict[str, Any]:
        line = self._file.readline()
        if not line:
            raise ConnectionError("the engine closed the connection")
        return json.loads(line)

    def hello(self, protocol: Any = 1) -> dict[str, Any]:
        self.request({"op": "hello", "protocol": protocol, "client": "raw"})
        return self.line()

    def closed_by_engine(self) -> bool:
        """Read until the engine hangs up; True when it did (within the socket timeout)."""
        try:
            while self._file.readline():
                pass
        except TimeoutError:
            return False
        except OSError:  # reset: hung up too
            return True
        return True

    def close(self) -> None:
        self._file.close()
        self.sock.close()


@pytest.fixture
def empty_hub(tmp_path, monkeypatch) -> Iterator[Path]:
    """An empty torch hub cache in tmp_path, here (`torch.hub.set_dir`: an earlier test may
    have pinned the folder, so TORCH_HOME alone would not move it) and for every engine
    started from here (TORCH_HOME); the previous folder afterwards."""
    import torch

    from engine.transfer.hub import cache_file

    before = torch.hub.get_dir()
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch.hub.set_dir(str(tmp_path / "torch" / "hub"))
    try:
        target = cache_file("resnet18")
        assert tmp_path in target.parents and not target.exists()  # never a real cache
        yield target
    finally:
        torch.hub.set_dir(before)
