"""The engine's wire format: versioned JSON lines over a Unix socket (no pickle).

Framing: one UTF-8 JSON object per line, ended by `\\n`, at most `MAX_MESSAGE_BYTES` with
its newline. A client speaks first:

    → {"op": "hello", "protocol": 1, "client": "cnnlab-cli"}
    ← {"type": "welcome", "protocol": 1, "engine": {"pid": …, "runs_dir": …, …}}
       or {"type": "error", "code": "version", "message": "…"} and the engine hangs up

then requests, each with an `id` its reply repeats:

    → {"op": "submit", "id": 2, "kind": "run", "config": {…}}
    ← {"type": "reply", "id": 2, "ok": true, "result": {…}}
    ← {"type": "reply", "id": 2, "ok": false, "error": {"code": "invalid", "message": …,
                                                        "fields": {"lr": "must be > 0"}}}

and, after `subscribe`, events: `{"type": "event", "queue_id": "q3" | null, "event":
{"type": "BatchProgress", …fields}}`. Event types are the dataclasses of `engine.events`,
`engine.sweeps.events` and `engine.service.events`, encoded field by field and decoded by
name from `EVENT_TYPES` (an unknown name is an error; unknown fields are ignored, so a
field added with a default needs no new version).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from engine.events import BatchProgress, EpochEnd, Log, RunFinished, RunStarted, Samples
from engine.runs.files import json_safe
from engine.service.events import (
    BatchHistory,
    EngineStopping,
    EntryFinished,
    EntryStarted,
    GpuTelemetry,
    QueueState,
    SnapshotEnd,
)
from engine.service.paths import EngineError
from engine.sweeps.events import PointFinished, PointStarted, SweepFinished, SweepStarted

PROTOCOL_VERSION = 1
MAX_MESSAGE_BYTES = 1 << 20  # 1 MiB per line, newline included
# Requests a client may send after the handshake (see engine.service.server for each).
OPS = (
    "ping", "status", "list", "submit", "cancel", "move", "subscribe", "stop", "configure",
    "telemetry",
)  # fmt: skip
EVENT_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        RunStarted, BatchProgress, EpochEnd, Samples, Log, RunFinished,
        SweepStarted, PointStarted, PointFinished, SweepFinished,
        QueueState, EntryStarted, EntryFinished, BatchHistory, SnapshotEnd, EngineStopping,
        GpuTelemetry,
    )
}  # fmt: skip


class ProtocolError(EngineError):
    """A message that is not one: bad JSON, too long, an unknown event type."""


class VersionError(EngineError):
    """The engine and this client speak different protocol versions."""


def version_message(client: Any, engine: int = PROTOCOL_VERSION) -> str:
    """What both sides say when the versions differ: which is which, and what to do."""
    return (
        f"this cnnlab speaks engine protocol {client!r} but the engine running for this "
        f"runs folder speaks {engine}: it was started by another version of cnnlab. Let its "
        "runs finish (cnnlab queue), stop it (cnnlab engine stop) and try again."
    )


def encode(message: dict[str, Any]) -> bytes:
    """One message as a line; `ProtocolError` when it would exceed the size limit."""
    data = json.dumps(json_safe(message), allow_nan=False, separators=(",", ":")).encode()
    if len(data) + 1 > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(data)} bytes is over {MAX_MESSAGE_BYTES}")
    return data + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """The JSON object of one line (its newline may be there or not)."""
    if len(line) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(line)} bytes is over {MAX_MESSAGE_BYTES}")
    try:
        message = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"not a JSON message ({exc})") from None
    if not isinstance(message, dict):
        raise ProtocolError(f"a message is a JSON object, got {type(message).__name__}")
    return message


def event_to_dict(event: object) -> dict[str, Any]:
    """`{"type": name, **fields}` for a registered event dataclass."""
    name = type(event).__name__
    if EVENT_TYPES.get(name) is not type(event):
        raise ProtocolError(f"{name} is not an event type of the protocol")
    fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}  # type: ignore[arg-type]
    return {"type": name, **fields}


def event_from_dict(data: Any) -> object:
    """The event dataclass a dict encodes; `ProtocolError` for an unknown type or a
    missing field."""
    if not isinstance(data, dict):
        raise ProtocolError("an event is a JSON object")
    cls = EVENT_TYPES.get(str(data.get("type")))
    if cls is None:
        raise ProtocolError(f"unknown event type {data.get('type')!r}")
    values, missing = {}, []
    for spec in dataclasses.fields(cls):
        if spec.name in data:
            values[spec.name] = data[spec.name]
        elif spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
            missing.append(spec.name)
    if missing:
        raise ProtocolError(f"{cls.__name__} without {', '.join(missing)}")
    return cls(**values)


def event_message(queue_id: str | None, event: object) -> dict[str, Any]:
    return {"type": "event", "queue_id": queue_id, "event": event_to_dict(event)}


def hello(client: str) -> dict[str, Any]:
    return {"op": "hello", "protocol": PROTOCOL_VERSION, "client": client}


def reply_ok(request_id: Any, result: dict[str, Any]) -> dict[str, Any]:
    return {"type": "reply", "id": request_id, "ok": True, "result": result}


def reply_error(
    request_id: Any, code: str, message: str, fields: dict[str, str] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = dict(fields)
    return {"type": "reply", "id": request_id, "ok": False, "error": error}


def connection_error(code: str, message: str) -> dict[str, Any]:
    """An error about the connection itself (the engine hangs up after most of them)."""
    return {"type": "error", "code": code, "message": message}
