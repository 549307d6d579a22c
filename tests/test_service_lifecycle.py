"""The engine's life as processes and signals see it: it exits when idle, on SIGTERM (runs
interrupted, resumable) and on `stop`; killed with -9 it leaves its runs interrupted, the
next client says so and starts a new engine that picks up what was still queued, and the
resumed run ends bit-exactly like a run that was never stopped."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from engine_helpers import (
    REPO,
    collect,
    engine_pid,
    finished,
    running_engine,
    stop_engine,
    tiny_config,
    wait_for,
)

from engine.events import EpochEnd
from engine.runs import RunStore
from engine.runs.files import read_json
from engine.service import lock
from engine.service.client import EngineClient, EngineError, EngineNotRunning, recorded_entry
from engine.service.paths import MAX_SOCKET_PATH, EnginePaths
from engine.trainer.config import TrainConfig
from engine.trainer.loop import Trainer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]
TIMING = ("seconds", "images_per_second")


@pytest.fixture(autouse=True)
def one_engine_thread(monkeypatch, one_thread):
    """Engines inherit the environment: one torch thread, like this process."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def _without_timing(rows):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


def test_an_idle_engine_exits_by_itself_and_cleans_up(tmp_path):
    runs = tmp_path / "runs"
    paths = EnginePaths.of(runs)
    with pytest.raises(EngineNotRunning):
        EngineClient.connect(runs)
    client = EngineClient.connect(runs, start=True, idle_timeout=1)
    assert client.started and lock.held(paths)
    time.sleep(2.0)
    assert lock.held(paths), "a connected client keeps the engine up"
    client.close()
    wait_for(lambda: not lock.held(paths), "the idle engine to exit", timeout=60)
    assert not paths.info.exists() and not paths.default_socket.exists()
    assert "idle for 1 s" in paths.log.read_text()
    with pytest.raises(EngineNotRunning) as excinfo:
        EngineClient.connect(runs)
    assert excinfo.value.notice is None  # a clean exit is no news


def test_sigterm_interrupts_every_run_keeps_the_queue_and_exits_cleanly(tmp_path):
    runs = tmp_path / "runs"
    command = [sys.executable, "-m", "engine.service", "--runs-dir", str(runs)]
    engine = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        paths = EnginePaths.of(runs)
        client = wait_for(lambda: _try_connect(runs), "the engine's socket")
        with client, client.subscribe() as updates:
            long = client.submit_run(tiny_config(epochs=500))["queue_id"]
            waiting = client.submit_run(tiny_config(epochs=1))["queue_id"]
            collect(updates, lambda u: isinstance(u.event, EpochEnd))
            engine.send_signal(signal.SIGHUP)  # ignored: a lost terminal is no reason
            time.sleep(0.5)
            assert engine.poll() is None and client.request("ping") == {"pong": True}
            engine.send_signal(signal.SIGTERM)
            end = collect(updates, finished(long))[-1].event
        assert engine.wait(timeout=120) == 0
    finally:
        if engine.poll() is None:
            engine.kill()
        _, log = engine.communicate()
    assert end.status == "interrupted"
    record = RunStore(runs).get(end.run_ids[0])
    assert record.status == "interrupted"
    assert record.summary["error"] == "interrupted by SIGTERM to the engine"
    assert (record.path / "last.pt").is_file() and record.metrics
    assert "finished: interrupted (interrupted by SIGTERM" in (record.path / "run.log").read_text()
    queued = read_json(paths.queue)["entries"]
    assert [e["queue_id"] for e in queued] == [waiting]
    assert not paths.default_socket.exists() and not paths.info.exists()
    assert not lock.held(paths), log


def test_kill_9_then_a_new_engine_resumes_bit_exactly_and_runs_what_was_queued(tmp_path):
    runs = tmp_path / "runs"
    config = tiny_config(epochs=4, scheduler="cosine", augmentation="flip", max_train_batches=8)
    straight = Trainer(TrainConfig(**config), runs_dir=tmp_path / "straight")
    assert straight.run() == "completed"

    client = EngineClient.connect(runs, start=True)
    with client, client.subscribe() as updates:
        first = client.submit_run(config)["queue_id"]
        queued = client.submit_run(tiny_config(epochs=1, name="queued"))["queue_id"]
        collect(updates, lambda u: isinstance(u.event, EpochEnd) and u.event.epoch == 2)
        pid = engine_pid(runs)
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not lock.held(EnginePaths.of(runs)), "the killed engine's lock")
    [record] = RunStore(runs).list_runs()
    assert record.status == "interrupted" and record.summary["pid"] == pid
    assert recorded_entry(runs, first)["run_ids"] == [record.run_id]

    with pytest.raises(EngineNotRunning) as excinfo:
        EngineClient.connect(runs)
    assert f"1 run(s) interrupted: {record.run_id}" in str(excinfo.value)
    try:
        with EngineClient.connect(runs, start=True) as again:
            assert "stopped unexpectedly" in again.notice and record.run_id in again.notice
            assert again.engine["pid"] != pid
            with again.subscribe() as updates:
                done = {}
                while queued not in done:  # the queued one runs; the interrupted one waits
                    update = collect(updates, lambda u: type(u.event).__name__ == "EntryFinished")
                    done[update[-1].queue_id] = update[-1].event
                assert first not in done and done[queued].status == "completed"
                assert RunStore(runs).get(record.run_id).status == "interrupted"
                resumed = again.submit_resume(record.run_id, 4)["queue_id"]
                assert collect(updates, finished(resumed))[-1].event.status == "completed"
    finally:
        stop_engine(runs)
    resumed_record = RunStore(runs).get(record.run_id)
    reference = RunStore(tmp_path / "straight").get(straight.run_id)
    assert [r["epoch"] for r in resumed_record.metrics] == [1, 2, 3, 4]
    assert _without_timing(resumed_record.metrics) == _without_timing(reference.metrics)


def test_stop_refuses_while_runs_are_active_then_cancels_them(tmp_path):
    runs = tmp_path / "runs"
    with running_engine(runs) as client, client.subscribe() as updates:
        long = client.submit_run(tiny_config(epochs=500))["queue_id"]
        kept = client.submit_run(tiny_config(epochs=1))["queue_id"]
        collect(updates, lambda u: isinstance(u.event, EpochEnd))
        with pytest.raises(EngineError, match="--wait .* or --cancel"):
            client.stop()
        result = client.stop(cancel=True)
        assert result == {"active": 1, "queued": 1, "cancelled": True}
        assert collect(updates, finished(long))[-1].event.status == "cancelled"
        wait_for(lambda: not lock.held(EnginePaths.of(runs)), "the engine to exit")
    assert [e["queue_id"] for e in read_json(EnginePaths.of(runs).queue)["entries"]] == [kept]


def test_a_runs_folder_with_a_long_path_still_gets_a_private_socket(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    runs = tmp_path / ("a-rather-long-folder-name-" * 5) / "runs"
    paths = EnginePaths.of(runs)
    assert len(os.fsencode(paths.default_socket)) > MAX_SOCKET_PATH
    with running_engine(runs) as client:
        where = paths.socket()
        assert where != paths.default_socket and client.status()["socket"] == str(where)
        assert stat.S_IMODE(os.stat(where).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(where.parent).st_mode) == 0o700
        assert client.request("ping") == {"pong": True}
    assert not where.exists()


def test_a_failed_start_says_why_with_the_log(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLAB_ENGINE_IDLE", "soon")
    with pytest.raises(EngineError) as excinfo:
        EngineClient.connect(tmp_path / "runs", start=True, timeout=60)
    message = str(excinfo.value)
    assert "did not start" in message and "CNNLAB_ENGINE_IDLE must be seconds" in message


def _try_connect(runs: Path):
    try:
        return EngineClient.connect(runs)
    except EngineError:
        return None


HOLD_THE_LOCK_AND_DIE = """
import json, os, sys, time
from engine.service import lock
from engine.service.paths import EnginePaths
paths = EnginePaths.of(sys.argv[1])
fd = lock.acquire(paths)
paths.info.write_text(json.dumps({"pid": os.getpid()}))
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
os._exit(9)  # gone without serving the socket or cleaning up, as a SIGKILL leaves it
"""


def _dying_lock_holder(runs: Path) -> subprocess.Popen:
    """A process holding `runs`' engine lock (engine.json written) for 1.5 s, never serving."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK_AND_DIE, str(runs), "1.5"], stdout=subprocess.PIPE
    )
    assert holder.stdout.readline().strip() == b"holding"
    return holder


def test_a_lock_holder_that_dies_unanswered_is_not_waited_for(tmp_path):
    """A client that found the lock held (an engine killed mid-exit, or killed while
    starting) stops waiting as soon as the lock drops, instead of for START_TIMEOUT."""
    runs = tmp_path / "runs"
    holder = _dying_lock_holder(runs)
    started = time.monotonic()
    with pytest.raises(EngineNotRunning) as excinfo:
        EngineClient.connect(runs, timeout=60)
    waited = time.monotonic() - started
    holder.wait(10)
    assert waited < 20, f"waited {waited:.1f} s for an engine that was gone"
    assert excinfo.value.notice and f"pid {holder.pid}" in excinfo.value.notice


def test_a_start_after_a_lock_holder_died_unanswered_brings_a_new_engine(tmp_path):
    runs = tmp_path / "runs"
    holder = _dying_lock_holder(runs)
    client = EngineClient.connect(runs, start=True, timeout=60, client="test")
    try:
        assert client.started and client.engine["pid"] != holder.pid
        assert client.request("ping") == {"pong": True}
        assert f"pid {holder.pid}" in (client.notice or "")  # the dead one is told of
    finally:
        client.close()
        stop_engine(runs)
        holder.wait(10)
