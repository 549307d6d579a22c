"""Real background engines for the dashboard's tests.

Starting an engine costs seconds (it imports torch), so a test module shares one: import
the fixtures `engine_runs` (module-scoped: the engine's runs folder) and `runs` (the same
folder, left settled after each test: nothing queued or running, no remembered launch) into
the module. Dashboards of the module are opened on `runs`, each with its own data root.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_helpers import running_engine, stop_engine, wait_for

from cnnlab_tui.screens.last_launch import LAST_CONFIG_FILE
from engine.service.client import EngineClient

SETTLE_TIMEOUT = 120.0


@pytest.fixture(scope="module")
def engine_runs(tmp_path_factory) -> Iterator[Path]:
    """The runs folder of one engine shared by a test module (one torch thread)."""
    runs = tmp_path_factory.mktemp("dashboard") / "runs"
    before = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"  # the engine inherits it: one thread per run
    try:
        with running_engine(runs):
            yield runs
    finally:
        if before is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = before


@pytest.fixture
def runs(engine_runs: Path) -> Iterator[Path]:
    """The shared engine's runs folder, settled again after the test."""
    yield engine_runs
    settle(engine_runs)


def settle(runs: Path) -> None:
    """Cancel whatever a test left in the engine (queued first) and wait until it has
    nothing; forget the last launch, so the next test's form starts from the defaults."""
    with EngineClient.connect(runs, client="test settle") as engine:
        entries = engine.entries()
        for entry in sorted(entries, key=lambda e: e["state"] != "queued"):
            with contextlib.suppress(ValueError):  # EngineError: it ended meanwhile
                engine.cancel(entry["queue_id"])
        wait_for(lambda: not engine.entries(), "the engine to settle", SETTLE_TIMEOUT)
    (runs / LAST_CONFIG_FILE).unlink(missing_ok=True)


@pytest.fixture
def own_engine(tmp_path: Path) -> Iterator[Path]:
    """A runs folder whose engine the test (or its dashboard) starts; stopped afterwards."""
    runs = tmp_path / "runs"
    before = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        yield runs
    finally:
        stop_engine(runs)
        if before is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = before
