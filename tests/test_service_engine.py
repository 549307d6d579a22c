"""One real engine process (started detached by the client, as the CLI and the dashboard
start it) serving real sockets: progress to several clients, attaching mid-run, the queue's
commands, and clients that misbehave on purpose."""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import time

import pytest
from engine_helpers import (
    Raw,
    collect,
    engine_pid,
    finished,
    running_engine,
    tiny_config,
    wait_for,
)

from engine.errors import ConfigError, RunStoreError
from engine.events import BatchProgress, EpochEnd, RunFinished, RunStarted
from engine.runs import RunStore
from engine.runs.files import read_json_lines
from engine.service import protocol
from engine.service.client import EngineClient, EngineError, VersionError
from engine.service.events import BatchHistory, EntryFinished, QueueState, SnapshotEnd
from engine.service.paths import EnginePaths
from engine.sweeps import build_spec
from engine.trainer.config import TrainConfig

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """(client, runs folder) of one engine shared by this module's tests."""
    runs = tmp_path_factory.mktemp("engine") / "runs"
    before = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"  # the engine inherits it: one thread per run
    try:
        with running_engine(runs) as client:
            yield client, runs
    finally:
        if before is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = before


def _names(updates, queue_id):
    return [type(u.event).__name__ for u in updates if u.queue_id == queue_id]


def _steps(updates, run_id):
    steps = []
    for update in updates:
        event = update.event
        if isinstance(event, BatchHistory) and event.run_id == run_id:
            steps += [row["step"] for row in event.rows]
        elif isinstance(event, BatchProgress) and event.run_id == run_id:
            steps.append((event.epoch - 1) * event.num_batches + event.batch)
    return steps


def test_socket_and_folder_are_owner_only(engine):
    _, runs = engine
    paths = EnginePaths.of(runs)
    assert stat.S_IMODE(os.stat(paths.folder).st_mode) == 0o700
    mode = os.stat(paths.socket()).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    store = RunStore(runs)  # the hidden .engine folder is never a run, nor `latest`
    assert paths.folder.is_dir() and paths.folder not in store.run_dirs()
    with pytest.raises(RunStoreError, match="no run"):
        store.resolve("latest")


def test_two_clients_see_the_same_progress_and_the_run_store_agrees(engine):
    client, runs = engine
    with client.subscribe() as first, client.subscribe() as second:
        entry = client.submit_run(tiny_config(epochs=3))
        queue_id = entry["queue_id"]
        seen = [collect(s, finished(queue_id)) for s in (first, second)]

    def trace(updates):
        out = []
        for u in updates:
            if u.queue_id != queue_id:
                continue
            e = u.event
            if isinstance(e, BatchProgress):
                out.append(("batch", e.epoch, e.batch, e.loss, e.batch_loss))
            elif isinstance(e, EpochEnd):
                out.append(("epoch", e.epoch, e.metrics["train_loss"]))
            elif isinstance(e, (RunStarted, RunFinished, EntryFinished)):
                out.append((type(e).__name__,))
        return out

    assert trace(seen[0]) == trace(seen[1])
    finish = seen[0][-1].event
    assert finish.status == "completed"
    [run_id] = finish.run_ids
    record = RunStore(runs).get(run_id)
    epochs = [u.event.metrics for u in seen[0] if isinstance(u.event, EpochEnd)]
    assert record.status == "completed" and record.metrics == epochs
    rows, problem = read_json_lines(record.path / "batches.jsonl")
    assert problem is None and [r["step"] for r in rows] == _steps(seen[0], run_id)
    assert all(isinstance(r["batch_loss"], float) for r in rows)
    assert record.summary["pid"] == engine_pid(runs)  # the engine's process trains


def test_a_client_attaching_mid_run_is_sent_every_epoch_and_batch_so_far(engine):
    client, runs = engine
    entry = client.submit_run(tiny_config(epochs=200))
    queue_id = entry["queue_id"]
    with client.subscribe(queue_id) as live:
        collect(live, lambda u: isinstance(u.event, EpochEnd) and u.event.epoch >= 2)
        with client.subscribe(queue_id) as late:
            snapshot = collect(late, lambda u: isinstance(u.event, SnapshotEnd))
            client.cancel(queue_id)
            rest_live = collect(live, finished(queue_id))
            rest_late = collect(late, finished(queue_id))
    late_updates = snapshot + rest_late
    assert _names(snapshot, queue_id)[:2] == ["EntryStarted", "RunStarted"]
    assert isinstance(snapshot[0].event, QueueState)
    run_id = rest_late[-1].event.run_ids[0]
    epochs_late = [u.event.epoch for u in late_updates if isinstance(u.event, EpochEnd)]
    rows, _ = read_json_lines(RunStore(runs).get(run_id).path / "batches.jsonl")
    assert epochs_late == list(range(1, len(epochs_late) + 1)) and len(epochs_late) >= 2
    late_steps = _steps(late_updates, run_id)
    assert late_steps == sorted(set(late_steps)) == [r["step"] for r in rows]
    assert rest_live[-1].event.status == rest_late[-1].event.status == "cancelled"


def test_queue_commands_cancel_move_and_lanes(engine):
    client, runs = engine
    long = client.submit_run(tiny_config(epochs=500))["queue_id"]
    second = client.submit_run(tiny_config(epochs=1))["queue_id"]
    third = client.submit_run(tiny_config(epochs=1, name="third"))["queue_id"]
    views = {v["queue_id"]: v for v in client.entries()}
    assert views[long]["state"] == "running" and views[second]["state"] == "queued"
    assert {v["lane"] for v in views.values()} == {"cpu"}
    assert client.move(third, "top") == 1
    assert [v["queue_id"] for v in client.entries()] == [long, third, second]
    with pytest.raises(EngineError, match="already running"):
        client.move(long, "down")
    assert client.cancel(second)["was"] == "queued"
    assert second not in {v["queue_id"] for v in client.entries()}
    with client.subscribe() as updates:
        assert client.cancel(long)["was"] == "running"
        ends = collect(updates, finished(third))
    outcome = {u.queue_id: u.event.status for u in ends if isinstance(u.event, EntryFinished)}
    assert outcome[long] == "cancelled" and outcome[third] == "completed"
    with pytest.raises(EngineError, match="no queued or running entry"):
        client.cancel("q999")


def test_invalid_submissions_are_refused_with_field_messages(engine):
    client, runs = engine
    with pytest.raises(ConfigError) as excinfo:
        client.submit_run(tiny_config(lr=-1, epochs=0))
    assert set(excinfo.value.errors) == {"lr", "epochs"}
    with pytest.raises(ConfigError) as excinfo:
        client.submit_run({**tiny_config(), "learning_speed": 3})
    assert "learning_speed" in excinfo.value.errors
    with pytest.raises(EngineError, match="no run"):
        client.submit_resume("no-such-run", 3)


def test_resume_and_sweep_go_through_the_queue(engine):
    client, runs = engine
    with client.subscribe() as updates:
        first = client.submit_run(tiny_config(epochs=1))["queue_id"]
        run_id = collect(updates, finished(first))[-1].event.run_ids[0]
        with pytest.raises(ConfigError) as excinfo:
            client.submit_resume(run_id, 1)
        assert "epochs" in excinfo.value.errors
        resumed = client.submit_resume(run_id[-6:], 2)
        assert resumed["run_id"] == run_id and "resume" in resumed["label"]
        assert collect(updates, finished(resumed["queue_id"]))[-1].event.status == "completed"
        spec = build_spec(TrainConfig(**tiny_config(epochs=1)), {"lr": [1e-3, 1e-2]}, [0])
        sweep = client.submit_sweep(spec.to_dict())["queue_id"]
        end = collect(updates, finished(sweep))[-1].event
    assert [r["epoch"] for r in RunStore(runs).get(run_id).metrics] == [1, 2]
    assert end.status == "completed" and len(end.run_ids) == 2


def test_garbage_half_messages_and_floods_leave_the_engine_serving(engine):
    client, runs = engine
    pid = engine_pid(runs)
    raw = Raw(runs)
    assert raw.hello()["type"] == "welcome"
    raw.send(b"this is not json\n")
    assert raw.line()["error"]["code"] == "bad_message"
    raw.send(b"\xff\xfe\x00\n")
    assert raw.line()["error"]["code"] == "bad_message"
    raw.request({"op": "launch missiles", "id": 5})
    assert raw.line()["error"]["code"] == "unknown_op"
    raw.request({"op": "ping", "id": 6})
    assert raw.line() == {"type": "reply", "id": 6, "ok": True, "result": {"pong": True}}
    raw.send(b'{"op": "ping", "id": 7')  # and hang up mid-message
    raw.close()

    no_hello = Raw(runs)
    no_hello.request({"op": "list", "id": 1})
    assert no_hello.line()["code"] == "handshake" and no_hello.closed_by_engine()

    too_long = Raw(runs)
    too_long.hello()
    with contextlib.suppress(OSError):  # the engine may hang up while we still write
        too_long.send(b"x" * (3 * protocol.MAX_MESSAGE_BYTES))  # no newline anywhere
    assert too_long.closed_by_engine()

    flood = Raw(runs)
    flood.hello()
    with contextlib.suppress(OSError):  # requests, never reading a reply: we are dropped
        flood.send(b'{"op": "ping", "id": 1}\n' * 40_000)
    assert flood.closed_by_engine()

    assert client.request("ping") == {"pong": True}
    assert engine_pid(runs) == pid and client.status()["pid"] == pid
    with EngineClient.connect(runs) as other:
        assert other.status()["pid"] == pid


def test_a_subscriber_that_never_reads_does_not_slow_training(engine):
    client, runs = engine
    sleeper = Raw(runs)
    sleeper.hello()
    sleeper.request({"op": "subscribe", "id": 1})
    try:
        with client.subscribe() as updates:
            began = time.monotonic()
            queue_id = client.submit_run(tiny_config(epochs=40))["queue_id"]
            end = collect(updates, finished(queue_id), timeout=240)[-1].event
        assert end.status == "completed"
        assert time.monotonic() - began < 240
    finally:
        sleeper.close()


def test_another_protocol_version_gets_a_clear_message(engine, monkeypatch):
    _, runs = engine
    raw = Raw(runs)
    answer = raw.hello(protocol=99)
    assert answer["type"] == "error" and answer["code"] == "version"
    assert "99" in answer["message"] and "cnnlab engine stop" in answer["message"]
    assert raw.closed_by_engine()
    monkeypatch.setattr(protocol, "PROTOCOL_VERSION", 42)
    with pytest.raises(VersionError, match="42"):
        EngineClient.connect(runs)


def test_a_subscription_closed_from_another_thread_ends_its_reader(engine):
    client, _ = engine
    subscription = client.subscribe()
    got: list = []
    reader = threading.Thread(target=lambda: got.extend(subscription), daemon=True)
    reader.start()
    wait_for(lambda: got, "the snapshot")
    subscription.close()
    reader.join(timeout=10)
    assert not reader.is_alive()
