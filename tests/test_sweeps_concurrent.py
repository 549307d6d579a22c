"""Two copies of the same sweep started together (two terminals, or a terminal and a
dashboard) run each point once, between them, and the sweep state lists every run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.runs import RunStore
from engine.sweeps.state import list_sweeps

REPO = Path(__file__).resolve().parents[1]
SWEEP = ["sweep", "--dataset", "shapes", "--image-size", "16", "--epochs", "2",
         "--batch-size", "32", "--max-train-batches", "6", "--model", "conv",
         "--model-opt", "widths=4,8", "--device", "cpu", "--grid", "lr=1e-2,1e-3",
         "--seeds", "1"]  # fmt: skip


@pytest.mark.slow
def test_two_copies_of_a_sweep_run_each_point_once_and_lose_no_run_id(tmp_path):
    runs = tmp_path / "runs"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO),
           "CNNLAB_CACHE": str(tmp_path / "cache")}  # fmt: skip
    command = [sys.executable, "-m", "engine.cli", *SWEEP, "--runs-dir", str(runs)]
    copies = [subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True) for _ in range(2)]  # fmt: skip
    outputs = [copy.communicate(timeout=600)[0] for copy in copies]
    assert [copy.returncode for copy in copies] == [0, 0], outputs
    records = RunStore(runs).list_runs()
    assert len(records) == 2, [r.run_id for r in records]  # not 4
    assert all(r.status == "completed" for r in records)
    (state,) = list_sweeps(runs)
    assert [len(p.attempts) for p in state.points] == [1, 1]
    assert {p.run_id for p in state.points} == {r.run_id for r in records}
    assert {r.config["lr"] for r in records} == {0.01, 0.001}
    assert all("sweep completed: 2/2" in out for out in outputs), outputs
