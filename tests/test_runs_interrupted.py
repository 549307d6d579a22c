"""A training process killed mid-epoch: its run reads as `interrupted`, with every finished
epoch intact, and can be resumed without duplicating epochs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.runs import RunStore
from engine.trainer.config import TrainConfig
from engine.trainer.loop import Trainer

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_killed_training_reads_interrupted_and_resumes(tmp_path, one_thread):
    runs = tmp_path / "runs"
    command = [
        sys.executable,
        "-m",
        "engine",
        "train",
        "--preset",
        "quick-shapes",
        "--epochs",
        "500",
        "--batch-size",
        "16",
        "--image-size",
        "18",
        "--device",
        "cpu",
        "--quiet",
        "--runs-dir",
        str(runs),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            records = RunStore(runs).list_runs()
            if records and len(records[0].metrics) >= 2:
                break
            time.sleep(0.05)
        time.sleep(0.3)  # well inside the next epoch
        assert RunStore(runs).list_runs()[0].status == "running"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    [record] = RunStore(runs).list_runs()
    assert record.status == "interrupted" and record.damaged is None
    epochs = [row["epoch"] for row in record.metrics]
    assert len(epochs) >= 2 and epochs == list(range(1, len(epochs) + 1))
    assert all(isinstance(row["test_acc"], float) for row in record.metrics)
    assert record.summary["epochs_completed"] in (len(epochs), len(epochs) - 1)
    assert not list(record.path.glob(".*.tmp"))

    target = len(epochs) + 1
    config = TrainConfig.from_dict(record.config).replace(epochs=target)
    assert Trainer(config, runs_dir=runs, resume=record.run_id).run() == "completed"
    record = RunStore(runs).get(record.run_id)
    assert [row["epoch"] for row in record.metrics] == list(range(1, target + 1))
    assert record.status == "completed"
