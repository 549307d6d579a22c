"""Importing torch and the engine in the background, so the dashboard paints at once.

Importing torch and the engine's modules takes seconds. The app draws its first screen
without them and then starts `EngineImport.load` in a thread worker; what needs the engine
waits for it: screens build those parts when `EngineLoaded` arrives (and say "loading…"
until then), and thread workers call `wait()` before they import an engine module. The
UI thread never imports a heavy module itself — it would freeze until the import ends.

Only this one thread imports the engine while it loads: two threads importing modules that
import each other can trip Python's import-deadlock detection. It imports the background
engine's client first (`CLIENT_MODULES`, torch-free, a fraction of a second), so the
dashboard attaches to a running engine (`client_wait()`) without waiting for torch.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading

log = logging.getLogger(__name__)

# What talks to the background engine: light, imported before anything heavy.
CLIENT_MODULES: tuple[str, ...] = ("engine.service.client", "engine.service.spawn")
# What the dashboard's screens use, heaviest first.
HEAVY_MODULES: tuple[str, ...] = (
    "torch",
    "engine.trainer.loop",
    "engine.models",
    "engine.datasets",
    "engine.presets",
    "engine.ops",
    "engine.runs",
    "engine.runs.compare",
    "engine.sweeps",
)
LOADING_TEXT = "Loading torch and the engine…"


class EngineImport:
    """Imports `HEAVY_MODULES` once (`load`, from a thread) and tells waiters when done."""

    def __init__(
        self, modules: tuple[str, ...] = HEAVY_MODULES, client: tuple[str, ...] = CLIENT_MODULES
    ) -> None:
        self.modules = modules
        self.client_modules = client
        self.error: str | None = None  # why the import failed, for a person
        self._client_done = threading.Event()
        self._done = threading.Event()

    @property
    def ready(self) -> bool:
        """True once every module is imported (False while loading or after a failure)."""
        return self._done.is_set() and self.error is None

    def load(self) -> None:
        """Import the client, then every module (seconds; call it from a thread worker)."""
        try:
            for name in self.client_modules:
                importlib.import_module(name)
            self._client_done.set()
            for name in self.modules:
                importlib.import_module(name)
        except Exception as exc:  # a broken install must leave the dashboard usable
            log.exception("cannot import the engine")
            self.error = f"the engine cannot be imported: {type(exc).__name__}: {exc}"
        finally:
            self._client_done.set()
            self._done.set()

    def client_wait(self, timeout: float | None = None) -> bool:
        """Block a worker thread until the engine client is imported; True when it is."""
        self._client_done.wait(timeout)
        return self._client_done.is_set() and all(
            name in sys.modules for name in self.client_modules
        )

    def wait(self, timeout: float | None = None) -> bool:
        """Block a worker thread until the import has ended; True when it succeeded."""
        self._done.wait(timeout)
        return self.ready
