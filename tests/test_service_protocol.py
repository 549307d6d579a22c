"""The engine's wire format, its on-disk queue and where its socket goes — the parts that
need no running engine."""

from __future__ import annotations

import dataclasses
import json
import os
import stat

import pytest

from engine.events import BatchProgress, EpochEnd, RunFinished, RunStarted
from engine.service.events import QueueState
from engine.service.paths import MAX_SOCKET_PATH, EnginePaths
from engine.service.protocol import (
    EVENT_TYPES,
    MAX_MESSAGE_BYTES,
    ProtocolError,
    decode,
    encode,
    event_from_dict,
    event_message,
    event_to_dict,
    version_message,
)
from engine.service.queue_store import QueueEntry, QueueStore
from engine.sweeps.events import PointFinished


def test_every_event_type_round_trips_through_a_line():
    events = [
        RunStarted("r", {"lr": 0.1}, "/runs/r", "classify", "cpu", 9, ["a", "b"], 4, 2, 3),
        BatchProgress("r", 1, 2, 4, 0.7, 123.0, 5.0, 0.65),
        EpochEnd("r", 1, {"epoch": 1, "test_acc": 0.5, "confusion": [[1, 0], [0, 1]]}),
        RunFinished("r", "interrupted", "interrupted by SIGTERM", {"status": "interrupted"}),
        PointFinished("s", 0, "r", "completed", None, 1, 2, {"test_acc": 0.5}),
        QueueState([{"queue_id": "q1"}], [{"name": "cpu", "busy": None}]),
    ]
    for event in events:
        line = encode(event_message("q1", event))
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        message = decode(line)
        assert message["queue_id"] == "q1"
        assert event_from_dict(message["event"]) == event
    assert {type(e).__name__ for e in events} <= set(EVENT_TYPES)


def test_every_registered_type_has_its_own_name():
    for name, cls in EVENT_TYPES.items():
        assert cls.__name__ == name and dataclasses.is_dataclass(cls)


def test_non_finite_numbers_become_null_and_old_batch_events_still_decode():
    row = event_to_dict(BatchProgress("r", 1, 1, 1, float("nan"), 1.0, 0.0))
    assert json.loads(encode(row))["loss"] is None
    old = {"type": "BatchProgress", "run_id": "r", "epoch": 1, "batch": 1, "num_batches": 1,
           "loss": 0.5, "images_per_second": 1.0, "eta_seconds": 0.0}  # fmt: skip
    assert event_from_dict(old).batch_loss is None
    assert event_from_dict({**old, "added_later": 1}).loss == 0.5  # unknown fields ignored


@pytest.mark.parametrize(
    "line",
    [b"not json\n", b"[1, 2]\n", b"\xff\xfe\n", b'{"a": 1'],
)
def test_bad_lines_are_protocol_errors(line):
    with pytest.raises(ProtocolError):
        decode(line)


def test_unknown_or_incomplete_events_are_refused():
    with pytest.raises(ProtocolError, match="unknown event type"):
        event_from_dict({"type": "Pickle", "run_id": "r"})
    with pytest.raises(ProtocolError, match="without"):
        event_from_dict({"type": "EpochEnd", "run_id": "r"})
    with pytest.raises(ProtocolError):
        event_to_dict(object())


def test_messages_over_the_limit_are_refused_both_ways():
    with pytest.raises(ProtocolError, match="over"):
        encode({"blob": "x" * MAX_MESSAGE_BYTES})
    with pytest.raises(ProtocolError, match="over"):
        decode(b"x" * (MAX_MESSAGE_BYTES + 1))


def test_version_message_names_both_versions_and_what_to_do():
    text = version_message(7, 1)
    assert "7" in text and "1" in text and "cnnlab engine stop" in text


def test_queue_survives_a_reload_in_order_with_its_numbers(tmp_path):
    path = tmp_path / "queue.json"
    store = QueueStore(path)
    for label in ("a", "b", "c"):
        store.add(QueueEntry(store.new_id(), "run", label=label, config={"epochs": 1}))
    assert store.move("q3", "top") == 1 and store.move("q1", "down") == 3
    taken = store.take("q2", "cpu")
    store.remember(taken, "cpu", run_ids=["r2"])
    again = QueueStore.load(path)
    assert [e.queue_id for e in again.entries] == ["q3", "q1"]
    assert again.new_id() == "q4"
    assert again.recorded("q2")["run_ids"] == ["r2"]
    with pytest.raises(ValueError):
        again.move("q1", "sideways")


def test_a_damaged_queue_file_is_kept_aside_not_lost(tmp_path):
    path = tmp_path / "queue.json"
    path.write_text("{ torn")
    store = QueueStore.load(path)
    assert store.entries == []
    [aside] = tmp_path.glob("queue.json.damaged-*")
    assert aside.read_text() == "{ torn"


def test_a_long_runs_folder_gets_its_socket_in_a_short_private_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    runs = tmp_path / ("deep-" * 30) / "runs"
    paths = EnginePaths.of(runs)
    paths.ensure_folder()
    assert len(os.fsencode(paths.default_socket)) > MAX_SOCKET_PATH
    chosen = paths.choose_socket()
    assert len(os.fsencode(chosen)) <= MAX_SOCKET_PATH
    assert paths.socket() == chosen  # recorded for clients
    assert stat.S_IMODE(os.stat(chosen.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(paths.folder).st_mode) == 0o700
    short = EnginePaths.of(tmp_path / "r")
    short.ensure_folder()
    assert short.choose_socket() == short.default_socket


def test_the_peer_of_a_unix_socket_is_this_user():
    import socket

    from engine.service.sessions import peer_uid

    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with left, right:
        uid = peer_uid(left)
    if not hasattr(socket, "SO_PEERCRED"):
        assert uid is None  # where the OS cannot say, the socket's 0600 mode guards it
    else:
        assert uid == os.getuid()
