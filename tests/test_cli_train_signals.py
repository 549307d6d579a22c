"""SIGTERM and SIGHUP to a real foreground `cnnlab train` process: the run stops at a batch
boundary, is recorded `interrupted` with the signal's name, keeps its checkpoint, and the
command exits with 128 + the signal's number."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.runs import RunStore

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_interrupts_the_run_and_exits_128_plus_its_number(tmp_path, signum):
    runs = tmp_path / "runs"
    command = [
        sys.executable, "-m", "engine", "train", "--preset", "quick-shapes", "--epochs", "500",
        "--image-size", "18", "--batch-size", "16", "--device", "cpu", "--runs-dir", str(runs),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "120"}
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            records = RunStore(runs).list_runs()
            if records and (records[0].path / "last.pt").exists():
                break
            time.sleep(0.1)
        process.send_signal(signum)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    name = signal.Signals(signum).name
    assert process.returncode == 128 + signum, err
    [record] = RunStore(runs).list_runs()
    assert record.status == "interrupted" and record.damaged is None
    assert record.summary["error"] == f"interrupted by {name}"
    assert record.summary["epochs_completed"] >= 1 and (record.path / "last.pt").is_file()
    assert f"finished: interrupted (interrupted by {name})" in (record.path / "run.log").read_text()
    assert "Traceback" not in err
    if signum == signal.SIGTERM:  # after SIGHUP the terminal is gone: nothing is written
        assert "--resume" in err
