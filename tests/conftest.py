"""Shared fixtures: where the real data sets live, and a fast torch setup for tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CNNLAB_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def shared_dataset(name: str) -> Path:
    """Path of a real data set under ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real data set '{name}' not found at {path} (set CNNLAB_SHARED_DATA)")
    return path


@pytest.fixture
def vehicles_root() -> Path:
    return shared_dataset("vehicles")


@pytest.fixture
def dehaze_root() -> Path:
    return shared_dataset("dehaze")


@pytest.fixture
def cifar10_root() -> Path:
    return shared_dataset("cifar10")


@pytest.fixture
def one_thread():
    """Two shared cores: one intra-op thread avoids oversubscription (10x faster here)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# Real background engines for the dashboard's tests (engine_runs, runs, own_engine).
from engine_helpers import empty_hub  # noqa: E402, F401 - the weights tests' hub cache
from tui_engine import engine_runs, own_engine, runs  # noqa: E402, F401
