"""The engine's commands as a person types them, each in its own process: `train
--detach`, `queue`, `watch`, `engine status|start|stop` — and none of them loads torch."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from engine_helpers import stop_engine
from test_startup import _PROBE

from engine.runs import RunStore
from engine.service.client import recorded_entry

REPO = Path(__file__).resolve().parents[1]
SHORT = ["--preset", "quick-shapes", "--image-size", "18", "--device", "cpu",
         "--max-train-batches", "3", "--batch-size", "16"]  # fmt: skip

pytestmark = pytest.mark.timeout(400)


def cnnlab(runs: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "160"}
    return subprocess.run(
        [sys.executable, "-m", "engine", *args, "--runs-dir", str(runs)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def queue_id(result: subprocess.CompletedProcess) -> str:
    match = re.search(r"queued (q\d+) on lane (\S+)", result.stdout)
    assert match, result.stdout + result.stderr
    return match.group(1)


@pytest.mark.slow
def test_detach_queue_watch_resume_and_stop_from_the_command_line(tmp_path):
    runs = tmp_path / "runs"
    try:
        status = cnnlab(runs, "engine", "status")
        assert status.returncode == 3 and "no engine is running" in status.stdout

        first = cnnlab(runs, "train", *SHORT, "--epochs", "2", "--detach")
        assert first.returncode == 0, first.stderr
        q1 = queue_id(first)
        assert f"cnnlab watch {q1}" in first.stdout and "engine started" in first.stderr
        q2 = queue_id(cnnlab(runs, "train", *SHORT, "--epochs", "500", "--detach"))
        q3 = queue_id(cnnlab(runs, "train", *SHORT, "--epochs", "1", "--detach"))
        bad = cnnlab(runs, "train", *SHORT, "--lr", "-1", "--detach")
        assert bad.returncode == 2 and "lr: must be" in bad.stderr

        watched = cnnlab(runs, "watch", q1)
        assert watched.returncode == 0, watched.stdout + watched.stderr
        assert "test_acc" in watched.stdout and f"{q1} completed" in watched.stdout

        listing = cnnlab(runs, "queue")
        assert listing.returncode == 0 and q2 in listing.stdout and q3 in listing.stdout
        assert "lane" in listing.stdout and "cpu" in listing.stdout
        assert "is now #1" in cnnlab(runs, "queue", "move", q3, "top").stdout

        refused = cnnlab(runs, "engine", "stop")
        assert refused.returncode == 1 and "--cancel" in refused.stderr
        assert "cancelling" in cnnlab(runs, "queue", "cancel", q2).stdout
        cancelled = cnnlab(runs, "watch", q2)
        assert cancelled.returncode == 130 and "cancelled" in cancelled.stdout
        run_id = recorded_entry(runs, q2)["run_ids"][-1]
        done = len(RunStore(runs).get(run_id).metrics)
        resume = cnnlab(runs, "train", "--resume", run_id, "--epochs", str(done + 1), "--detach")
        assert resume.returncode == 0, resume.stderr
        assert cnnlab(runs, "watch", queue_id(resume)).returncode == 0
        assert [r["epoch"] for r in RunStore(runs).get(run_id).metrics][-1] == done + 1

        running = cnnlab(runs, "engine", "status")
        assert running.returncode == 0 and "engine running" in running.stdout
        stopped = cnnlab(runs, "engine", "stop")
        assert stopped.returncode == 0 and "engine stopped" in stopped.stdout
        assert cnnlab(runs, "engine", "status").returncode == 3
        history = cnnlab(runs, "watch", q1)  # no engine: from queue.json and the run folder
        assert history.returncode == 0 and "completed" in history.stdout
    finally:
        stop_engine(runs)


@pytest.mark.slow
def test_the_engine_commands_never_import_torch(tmp_path):
    runs = str(tmp_path / "runs")
    where = ["--runs-dir", runs]
    commands = [
        ["engine", "--help"],
        ["queue", "--help"],
        ["watch", "--help"],
        ["engine", "start", "--idle-timeout", "30", *where],
        ["train", *SHORT, "--epochs", "1", "--detach", *where],
        ["queue", *where],
        ["watch", "q1", *where],
        ["engine", "status", *where],
        ["engine", "stop", "--wait", *where],
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    try:
        result = subprocess.run(
            [sys.executable, "-c", _PROBE, json.dumps(commands)],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    finally:
        stop_engine(Path(runs))
    assert result.stdout.strip() == "none", result.stdout + result.stderr
