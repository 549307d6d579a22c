"""The dashboard as a client of the background engine, with real processes: a dashboard's
process that loses its terminal (SIGHUP) costs no run, and two dashboards on one runs
folder share one engine and one queue."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from engine_helpers import engine_pid
from tui_helpers import async_test, tiny_config, wait_for

from cnnlab_tui.app import CnnlabApp
from engine.runs import RunStore
from engine.service.client import EngineClient
from engine.trainer.checkpoint import LAST, checkpoint_facts
from engine.trainer.config import TrainConfig

pytestmark = pytest.mark.timeout(300)

HARNESS = Path(__file__).resolve().parent / "tui_dashboard_process.py"
REPO = HARNESS.parent.parent


def start_dashboard(runs: Path, data_root: Path, epochs: int) -> subprocess.Popen[str]:
    """A headless dashboard process that launches a run from its form (see the harness)."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return subprocess.Popen(
        [sys.executable, str(HARNESS), str(runs), str(data_root), str(epochs)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def running_line(dashboard: subprocess.Popen[str]) -> tuple[str, str]:
    """(queue id, run id) once the dashboard's run trains; its stderr when it failed."""
    line = dashboard.stdout.readline()
    if not line.startswith("RUNNING"):
        dashboard.kill()
        raise AssertionError(f"dashboard said {line!r}: {dashboard.stderr.read()[-3000:]}")
    _, queue_id, run_id = line.split()
    return queue_id, run_id


def summary(runs: Path, run_id: str) -> dict:
    return json.loads((runs / run_id / "summary.json").read_text())


def wait_until(condition, what: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


@pytest.mark.slow
def test_sighup_to_the_dashboard_keeps_its_run_training_to_the_end(tmp_path, own_engine):
    runs = own_engine  # no engine yet: the dashboard starts one for its launch
    epochs = 40
    dashboard = start_dashboard(runs, tmp_path, epochs)
    try:
        queue_id, run_id = running_line(dashboard)
        assert summary(runs, run_id)["status"] == "running"
        pid = engine_pid(runs)
        assert pid is not None and pid != dashboard.pid  # training is in the engine
        dashboard.send_signal(signal.SIGHUP)  # the terminal (or the SSH link) is gone
        done_at_hangup = len(RunStore(runs).get(run_id).metrics)
        out, _ = dashboard.communicate(timeout=60)
    finally:
        if dashboard.poll() is None:
            dashboard.kill()
    assert f"EXIT {128 + signal.SIGHUP}" in out  # the dashboard closed, quietly
    assert done_at_hangup < epochs, "the run ended before the hang-up: make it longer"

    wait_until(lambda: summary(runs, run_id)["status"] != "running", "the run to end")
    assert summary(runs, run_id)["status"] == "completed"
    record = RunStore(runs).get(run_id)
    assert [row["epoch"] for row in record.metrics] == list(range(1, epochs + 1))
    assert engine_pid(runs) == pid  # the same engine trained it to the end

    asyncio.run(_reopened_shows_it_completed(tmp_path, runs, run_id, epochs))


async def _reopened_shows_it_completed(data_root: Path, runs: Path, run_id: str, epochs: int):
    from textual.widgets import DataTable

    app = CnnlabApp(data_root=data_root, runs_dir=runs)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("f3")
        await wait_for(pilot, lambda: any(run_id in t.rows for t in app.screen.query(DataTable)),
                       what="the run in the Runs table")  # fmt: skip
        [table] = [t for t in app.screen.query(DataTable) if run_id in t.rows]
        assert "completed" in [str(cell) for cell in table.get_row(run_id)]
        assert len(app.store.get(run_id).metrics) == epochs  # its full curves


@pytest.mark.slow
@async_test
async def test_two_dashboards_share_one_engine_and_one_queue(tmp_path, runs):
    # its run lasts until cancelled below (200 tiny epochs ended before the cancel in CI)
    other = start_dashboard(runs, tmp_path, 50_000)  # a second dashboard, its own process
    try:
        queue_id, run_id = await asyncio.to_thread(running_line, other)
        app = CnnlabApp(data_root=tmp_path, runs_dir=runs)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.runner.get(queue_id) is not None, timeout=30,
                           what="the other dashboard's run")  # fmt: skip
            theirs = app.runner.get(queue_id)
            assert theirs.run_id == run_id and theirs.state == "running"
            assert app.runner.engine_info.get("pid") == engine_pid(runs)  # one engine
            seen = len(theirs.metrics)
            await wait_for(pilot, lambda: len(theirs.metrics) > seen, timeout=60,
                           what="its progress, live here too")  # fmt: skip
            epochs = [row["epoch"] for row in theirs.metrics]
            assert epochs == list(range(1, len(epochs) + 1))  # all epochs since it started

            view = await asyncio.to_thread(
                app.runner.submit_run, TrainConfig(**tiny_config(tmp_path))
            )
            mine = view["queue_id"]
            await wait_for(pilot, lambda: app.runner.get(mine) is not None, what="mine")
            assert app.runner.get(mine).state == "queued"  # behind theirs: one queue
            with EngineClient.connect(runs, client="test") as engine:
                states = {e["queue_id"]: e["state"] for e in engine.entries()}
            assert states == {queue_id: "running", mine: "queued"}

            await pilot.press("f2")
            await wait_for(pilot, lambda: app.screen.query("#queue"), what="Live")
            await asyncio.to_thread(app.runner.cancel, queue_id)  # cancelled from here
            await wait_for(pilot, lambda: app.runner.get(mine).state != "queued", timeout=60,
                           what="mine to start once theirs is cancelled")  # fmt: skip
            assert theirs.status == "cancelled"
            await wait_for(pilot, lambda: not app.runner.active, timeout=120, what="mine")
            assert app.runner.get(mine).status == "completed"
    finally:
        other.send_signal(signal.SIGHUP)
        try:
            other.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            other.kill()
    assert RunStore(runs).get(run_id).status == "cancelled"


@pytest.mark.slow
@async_test
async def test_a_killed_engine_is_noticed_replaced_and_its_run_resumed_from_runs(
    tmp_path, own_engine
):
    from textual.widgets import DataTable, Input
    from tui_helpers import record_notifications

    runs = own_engine
    app = CnnlabApp(data_root=tmp_path, runs_dir=runs)
    notices = record_notifications(app)
    async with app.run_test(size=(120, 30)) as pilot:
        config = TrainConfig(**tiny_config(tmp_path, epochs=500, max_train_batches=2))
        queue_id = (await asyncio.to_thread(app.runner.submit_run, config))["queue_id"]
        await wait_for(pilot, lambda: app.runner.get(queue_id) is not None
                       and app.runner.get(queue_id).metrics, timeout=120,
                       what="its first epoch")  # fmt: skip
        run_id = app.runner.get(queue_id).run_id
        await wait_for(pilot, lambda: (runs / run_id / LAST).exists(), timeout=60,
                       what="its first checkpoint")  # fmt: skip
        old_pid = engine_pid(runs)
        os.kill(old_pid, signal.SIGKILL)  # the OOM killer, say
        await wait_for(pilot, lambda: app.runner.attached and engine_pid(runs) not in
                       (None, old_pid), timeout=120, what="a new engine")  # fmt: skip
        errors = [m for m, severity in notices if severity == "error"]
        assert any("unexpectedly" in m or "interrupted" in m for m in errors), notices
        assert app.runner.engine_info.get("pid") == engine_pid(runs)
        record = RunStore(runs).get(run_id)
        assert record.status == "interrupted"
        # The epochs its checkpoint holds: a kill between an epoch's metrics row and its
        # checkpoint leaves one row more, and that epoch trains again on resume.
        done, _ = checkpoint_facts(record.path / LAST)

        await pilot.press("f3")
        await wait_for(pilot, lambda: any(run_id in t.rows for t in app.screen.query(DataTable)),
                       what="the run in Runs")  # fmt: skip
        table = next(t for t in app.screen.query(DataTable) if run_id in t.rows)
        table.focus()
        table.move_cursor(row=table.get_row_index(run_id))
        await pilot.press("r")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ResumeScreen")
        app.screen.query_one("#resume-epochs", Input).value = "2"
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ != "ResumeScreen", timeout=60,
                       what="the resume queued")  # fmt: skip
        await wait_for(pilot, lambda: RunStore(runs).get(run_id).status == "completed",
                       timeout=120, what="the resumed run to finish")  # fmt: skip
    metrics = RunStore(runs).get(run_id).metrics
    assert [row["epoch"] for row in metrics] == list(range(1, done + 3))  # 2 more, in order


@async_test
async def test_live_moves_a_queued_run_up_and_down(tmp_path, runs):
    app = CnnlabApp(data_root=tmp_path, runs_dir=runs)
    async with app.run_test(size=(100, 30)) as pilot:
        ids = []
        for epochs in (500, 1, 1):
            view = await asyncio.to_thread(
                app.runner.submit_run, TrainConfig(**tiny_config(tmp_path, epochs=epochs))
            )
            ids.append(view["queue_id"])
        first, second, third = ids
        await wait_for(pilot, lambda: all(app.runner.get(q) for q in ids), what="entries")
        await wait_for(pilot, lambda: app.runner.get(first).state == "running", timeout=60)
        await pilot.press("f2")
        table = app.screen.query_one("#queue")
        await wait_for(pilot, lambda: table.row_count == 3, what="three rows")
        table.focus()
        table.move_cursor(row=table.get_row_index(third))
        await pilot.press("u")
        await wait_for(pilot, lambda: [r.queue_id for r in app.runner.queue] == [third, second],
                       what="third moved up")  # fmt: skip
        with EngineClient.connect(runs, client="test") as engine:
            queued = [e["queue_id"] for e in engine.entries() if e["state"] == "queued"]
        assert queued == [third, second]  # the engine's queue, not only this view
        table.move_cursor(row=table.get_row_index(third))
        await pilot.press("d")
        await wait_for(pilot, lambda: [r.queue_id for r in app.runner.queue] == [second, third],
                       what="third moved back down")  # fmt: skip
