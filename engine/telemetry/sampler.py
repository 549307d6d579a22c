"""`GpuSampler`: a daemon thread reading every GPU about once a second, keeping a short
history (for sparklines) and answering "how busy was this GPU since then" (an epoch).

One sampler per process (`shared_sampler`), shared by the engine (which serves it to its
clients) and every run on a GPU (which records its epoch's mean utilisation), started on
first use and stopped when the last user lets go. Without NVML (or a GPU) it starts no
thread: `snapshot().message` says why, in one line.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from engine.telemetry.nvml import GpuReading, load_nvml, read_gpus

log = logging.getLogger(__name__)

INTERVAL = 1.0  # seconds between readings
HISTORY = 300  # readings kept (5 minutes at 1 Hz)


@dataclass(frozen=True)
class Snapshot:
    """The latest readings (`available` False: `message` says why there are none) and,
    per GPU index, its recent utilisation (oldest first) and memory used."""

    available: bool
    message: str | None
    gpus: list[GpuReading] = field(default_factory=list)
    history: dict[int, list[float | None]] = field(default_factory=dict)
    memory_history: dict[int, list[int | None]] = field(default_factory=dict)
    taken_at: float = 0.0

    def to_dict(self, history: int = 60) -> dict[str, Any]:
        return {
            "available": self.available,
            "message": self.message,
            "gpus": [gpu.to_dict() for gpu in self.gpus],
            "history": {str(k): v[-history:] for k, v in self.history.items()},
            "memory_history": {str(k): v[-history:] for k, v in self.memory_history.items()},
            "taken_at": self.taken_at,
        }


class GpuSampler:
    """Reads the GPUs every `interval` seconds (`nvml`: a stand-in module for tests)."""

    def __init__(self, nvml: Any = None, *, interval: float = INTERVAL, history: int = HISTORY):
        self.interval = interval
        self._module = nvml
        self._nvml: Any = None
        self.message: str | None = None
        self._samples: deque[tuple[float, list[GpuReading]]] = deque(maxlen=history)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def available(self) -> bool:
        return self._nvml is not None

    def start(self) -> GpuSampler:
        """Load NVML and start sampling (no thread when it cannot be loaded)."""
        if self._thread is not None or self.message is not None:
            return self
        self._nvml, self.message = load_nvml(self._module)
        if self._nvml is None:
            log.info("GPU telemetry off: %s", self.message)
            return self
        self.sample()
        self._thread = threading.Thread(target=self._loop, name="gpu sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._nvml is not None:
            with contextlib.suppress(Exception):  # already shut down, driver gone
                self._nvml.nvmlShutdown()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> list[GpuReading]:
        """Read every GPU now and keep the reading."""
        try:
            readings = read_gpus(self._nvml)
        except Exception as exc:  # the driver went away: keep serving what we had
            log.warning("GPU telemetry: reading failed (%s)", exc)
            return []
        with self._lock:
            self._samples.append((time.time(), readings))
        return readings

    def snapshot(self) -> Snapshot:
        with self._lock:
            samples = list(self._samples)
        if not self.available:
            return Snapshot(False, self.message)
        if not samples:
            return Snapshot(True, None)
        util: dict[int, list[float | None]] = {}
        memory: dict[int, list[int | None]] = {}
        for _, readings in samples:
            for gpu in readings:
                util.setdefault(gpu.index, []).append(gpu.utilisation)
                memory.setdefault(gpu.index, []).append(gpu.memory_used)
        taken_at, latest = samples[-1]
        return Snapshot(True, None, list(latest), util, memory, taken_at)

    def utilisation(self, uuid: str | None, since: float) -> float | None:
        """Mean utilisation (%) of the GPU `uuid` over the readings taken since `since`
        (time.time()); None without readings of it."""
        values = []
        with self._lock:
            for taken_at, readings in self._samples:
                if taken_at < since:
                    continue
                for gpu in readings:
                    if _same_gpu(gpu.uuid, uuid) and gpu.utilisation is not None:
                        values.append(gpu.utilisation)
        return sum(values) / len(values) if values else None


def _same_gpu(nvml_uuid: str, torch_uuid: str | None) -> bool:
    """NVML says 'GPU-1a2b…', torch '1a2b…': the same GPU."""
    if not torch_uuid:
        return False
    return nvml_uuid.removeprefix("GPU-").lower() == str(torch_uuid).removeprefix("GPU-").lower()


_shared: GpuSampler | None = None
_users = 0
_shared_lock = threading.Lock()


def shared_sampler(nvml: Any = None) -> GpuSampler:
    """This process's sampler, started on the first call; pair with `release_sampler`."""
    global _shared, _users
    with _shared_lock:
        if _shared is None:
            _shared = GpuSampler(nvml).start()
        _users += 1
        return _shared


def release_sampler() -> None:
    """One user fewer; the last one stops the sampler."""
    global _shared, _users
    with _shared_lock:
        _users = max(_users - 1, 0)
        if _users == 0 and _shared is not None:
            _shared.stop()
            _shared = None
