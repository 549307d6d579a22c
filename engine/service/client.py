"""`EngineClient`: how the CLI and the dashboard talk to the engine of a runs folder.

    with EngineClient.connect(runs_dir, start=True) as engine:   # starts one if needed
        entry = engine.submit_run(config.to_dict())               # → {"queue_id": "q3", …}
        with engine.subscribe(entry["queue_id"]) as updates:      # snapshot, then live
            for update in updates:                                # Update(queue_id, event)
                ...

Synchronous and torch-free (the engine validates what it is sent), so a CLI command that
only talks to the engine starts instantly; the dashboard calls it from thread workers.
A subscription has its own connection: reading it never delays a request.

When no engine answers but one ran before without exiting cleanly (its engine.json is
still there and its process is gone), `notice` says so and names the runs it left
`interrupted` — they wait for an explicit resume; its queued entries are picked up by the
next engine.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import ConfigError
from engine.runs.files import default_runs_dir, read_json
from engine.service import lock
from engine.service.paths import EngineError, EnginePaths
from engine.service.protocol import (
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    ProtocolError,
    VersionError,
    decode,
    encode,
    event_from_dict,
    hello,
    version_message,
)

START_TIMEOUT = 60.0  # seconds to wait for a starting engine's socket (it imports torch)
REQUEST_TIMEOUT = 120.0  # seconds for one reply (a submission is validated first)

__all__ = [
    "EngineClient",
    "EngineDisconnected",
    "EngineError",
    "EngineNotRunning",
    "Subscription",
    "Update",
    "VersionError",
    "died_notice",
    "engine_info",
    "recorded_entry",
    "wait_until_stopped",
]


class EngineNotRunning(EngineError):
    """No engine serves this runs folder (and none was to be started). `notice` tells of
    one that died, when one did."""

    def __init__(self, message: str, notice: str | None = None):
        super().__init__(message if notice is None else f"{notice}\n{message}")
        self.notice = notice


class EngineDisconnected(EngineError):
    """The engine closed the connection (it stopped, or dropped this client)."""


@dataclass(frozen=True)
class Update:
    """One event from the engine; `queue_id` names its entry (None: about the engine)."""

    queue_id: str | None
    event: object


class _Lines:
    """JSON lines over one connected socket, with a size limit and optional timeouts."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = bytearray()

    def send(self, message: dict[str, Any]) -> None:
        self.sock.sendall(encode(message))

    def receive(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next message; None when `timeout` passes first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[: end + 1])
                del self._buffer[: end + 1]
                return decode(line)
            if len(self._buffer) > MAX_MESSAGE_BYTES:
                raise ProtocolError("the engine sent a message over the size limit")
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            try:
                self.sock.settimeout(left)  # raises too once another thread closed the socket
                chunk = self.sock.recv(1 << 16)
            except TimeoutError:
                return None
            except OSError as exc:
                raise EngineDisconnected(f"lost the connection to the engine ({exc})") from None
            if not chunk:
                raise EngineDisconnected("the engine closed the connection")
            self._buffer += chunk

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def _open(paths: EnginePaths) -> _Lines | None:
    """A connection to the engine's socket, or None when nobody listens there."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(paths.socket()))
    except OSError:
        sock.close()
        return None
    return _Lines(sock)


def _handshake(lines: _Lines, client: str) -> dict[str, Any]:
    """Say hello; the engine's description, or VersionError / EngineError."""
    lines.send(hello(client))
    message = lines.receive(timeout=REQUEST_TIMEOUT)
    if message is None:
        raise EngineError("the engine did not answer the hello")
    if message.get("type") == "error":
        error = VersionError if message.get("code") == "version" else EngineError
        raise error(str(message.get("message")))
    if message.get("type") != "welcome" or message.get("protocol") != PROTOCOL_VERSION:
        raise VersionError(version_message(PROTOCOL_VERSION, message.get("protocol")))
    return dict(message.get("engine") or {})


def engine_info(runs_dir: Path | str | None = None) -> dict[str, Any] | None:
    """What the engine of `runs_dir` wrote about itself when one is alive, else None."""
    paths = EnginePaths.of(runs_dir or default_runs_dir())
    if not lock.held(paths):
        return None
    try:
        info = read_json(paths.info)
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def died_notice(paths: EnginePaths) -> str | None:
    """ "the engine stopped unexpectedly; N run(s) interrupted: …" when engine.json was left
    by an engine that is gone; None otherwise."""
    if lock.held(paths):
        return None
    try:
        info = read_json(paths.info)
    except (OSError, ValueError):
        return None
    pid = info.get("pid") if isinstance(info, dict) else None
    from engine.runs import RunStore

    runs = [
        r.run_id
        for r in RunStore(paths.runs_dir).list_runs()
        if r.status == "interrupted" and r.summary.get("pid") == pid
    ]
    shown = ": " + ", ".join(runs) if runs else ""
    resume = " (resume: cnnlab train --resume RUN --epochs N --detach)" if runs else ""
    return (
        f"the engine stopped unexpectedly (pid {pid}); {len(runs)} run(s) "
        f"interrupted{shown}{resume}"
    )


def recorded_entry(runs_dir: Path | str | None, queue_id: str) -> dict[str, Any] | None:
    """What queue.json remembers of an entry that left the queue (its `run_ids`, `status`:
    None when the engine stopped while it ran), read without an engine."""
    paths = EnginePaths.of(runs_dir or default_runs_dir())
    try:
        history = read_json(paths.queue).get("history") or []
    except (OSError, ValueError, AttributeError):
        return None
    found = [h for h in history if isinstance(h, dict) and h.get("queue_id") == queue_id]
    return found[-1] if found else None


def wait_until_stopped(runs_dir: Path | str, timeout: float) -> bool:
    """Wait for the engine of `runs_dir` to exit; True when it did within `timeout`."""
    paths = EnginePaths.of(runs_dir)
    deadline = time.monotonic() + timeout
    while lock.held(paths):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


class EngineClient:
    """A connection to the engine of one runs folder (see `connect`)."""

    def __init__(
        self,
        paths: EnginePaths,
        lines: _Lines,
        engine: dict[str, Any],
        *,
        client: str = "cnnlab",
        notice: str | None = None,
        started: bool = False,
    ) -> None:
        self.paths = paths
        self.engine = engine
        self.client = client
        self.notice = notice
        self.started = started
        self._lines = lines
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    @classmethod
    def connect(
        cls,
        runs_dir: Path | str | None = None,
        *,
        start: bool = False,
        idle_timeout: float | None = None,
        timeout: float = START_TIMEOUT,
        client: str = "cnnlab",
        abandon: threading.Event | None = None,
        devices: str | None = None,
        cpu_lanes: int | None = None,
    ) -> EngineClient:
        """Connect to the engine of `runs_dir` (default $CNNLAB_RUNS or ./runs); with
        `start`, start one detached when none runs (on `devices`, with `cpu_lanes`; None:
        its environment's defaults). EngineNotRunning without `start`; EngineError (with
        the engine log's last lines) when one would not start. Setting `abandon` (from
        another thread) ends the wait for a starting engine with an EngineError at once —
        a dashboard that quits meanwhile — and leaves it starting."""
        from engine.service.spawn import log_tail, start_detached

        paths = EnginePaths.of(runs_dir or default_runs_dir())
        lines = _open(paths)
        if lines is not None:
            return cls._greet(paths, lines, client)
        notice, process, started = None, None, False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process is None and not lock.held(paths):
                # No engine holds the folder — none ran, or the one that held the lock is
                # gone without answering (killed while exiting or starting): start one, or
                # say none runs.
                notice = died_notice(paths)
                if not start:
                    raise EngineNotRunning(f"no engine is running for {paths.runs_dir}", notice)
                process = start_detached(paths, idle_timeout, devices=devices, cpu_lanes=cpu_lanes)
                started = True
            if abandon is not None and abandon.is_set():
                raise EngineError(f"stopped waiting for the engine of {paths.runs_dir}")
            lines = _open(paths)
            if lines is not None:
                return cls._greet(paths, lines, client, notice=notice, started=started)
            if process is not None and process.poll() not in (None, 3) and not lock.held(paths):
                raise EngineError(
                    f"the engine did not start (exit code {process.returncode}); the last "
                    f"lines of {paths.log}:\n{log_tail(paths)}"
                )
            time.sleep(0.05)
        raise EngineError(
            f"the engine for {paths.runs_dir} did not answer within {timeout:.0f} s; the "
            f"last lines of {paths.log}:\n{log_tail(paths)}"
        )

    @classmethod
    def _greet(cls, paths: EnginePaths, lines: _Lines, client: str, **kw: Any) -> EngineClient:
        try:
            engine = _handshake(lines, client)
        except Exception:
            lines.close()
            raise
        return cls(paths, lines, engine, client=client, **kw)

    # ------------------------------------------------------------------ requests

    def request(self, op: str, **args: Any) -> dict[str, Any]:
        """Send one request and return its result; ConfigError (field → message) for an
        invalid submission, EngineError for any other refusal."""
        with self._lock:
            request_id = next(self._ids)
            self._lines.send({"op": op, "id": request_id, **args})
            while True:
                message = self._lines.receive(timeout=REQUEST_TIMEOUT)
                if message is None:
                    raise EngineError(f"the engine did not answer {op} in time")
                if message.get("type") == "error":
                    raise EngineError(str(message.get("message")))
                if message.get("type") == "reply" and message.get("id") == request_id:
                    break
        if message.get("ok"):
            return dict(message.get("result") or {})
        error = dict(message.get("error") or {})
        if error.get("code") == "invalid" and error.get("fields"):
            raise ConfigError(dict(error["fields"]))
        raise EngineError(str(error.get("message") or f"the engine refused {op}"))

    def submit_run(
        self, config: dict[str, Any], *, device: str | None = None, label: str | None = None
    ) -> dict[str, Any]:
        """Queue one run (a TrainConfig dict); returns its entry (`queue_id`, `lane`, …)."""
        return self._submit("run", config=config, device=device, label=label)

    def submit_sweep(
        self, spec: dict[str, Any], *, device: str | None = None, label: str | None = None
    ) -> dict[str, Any]:
        """Queue a sweep (`SweepSpec.to_dict()`); its points fan out over free lanes."""
        return self._submit("sweep", sweep=spec, device=device, label=label)

    def submit_search(
        self, spec: dict[str, Any], *, device: str | None = None, label: str | None = None
    ) -> dict[str, Any]:
        """Queue a search (`SearchSpec.to_dict()`); its trials fan out over free lanes."""
        return self._submit("search", sweep=spec, device=device, label=label)

    def submit_resume(
        self, run_id: str, epochs: int, overrides: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Queue the continuation of run `run_id` up to `epochs` epochs in all."""
        request = {"run_id": run_id, "overrides": {**(overrides or {}), "epochs": epochs}}
        return self._submit("resume", resume=request)

    def _submit(self, kind: str, **payload: Any) -> dict[str, Any]:
        args = {k: v for k, v in payload.items() if v is not None}
        return self.request("submit", kind=kind, **args)["entry"]

    def cancel(self, ref: str) -> dict[str, Any]:
        """Remove a queued entry or cancel a running one (by queue id or run id)."""
        return self.request("cancel", ref=ref)

    def move(self, ref: str, where: str) -> int:
        """Move a queued entry up, down, top or bottom; returns its new position."""
        return int(self.request("move", ref=ref, where=where)["position"])

    def entries(self) -> list[dict[str, Any]]:
        """Running entries, then queued ones in order."""
        return list(self.request("list")["entries"])

    def status(self) -> dict[str, Any]:
        return self.request("status")

    def stop(self, *, cancel: bool = False, wait: bool = False) -> dict[str, Any]:
        """Ask the engine to exit (refused while runs are active, unless `wait` — after
        them — or `cancel`); queued entries stay on disk for the next engine."""
        return self.request("stop", cancel=cancel, wait=wait)

    def configure(self, *, idle_timeout: float) -> dict[str, Any]:
        return self.request("configure", idle_timeout=idle_timeout)

    def telemetry(self) -> dict[str, Any]:
        """The GPUs now: {available, message, gpus, history, memory_history, taken_at}."""
        return self.request("telemetry")

    def subscribe(self, ref: str | None = None, *, telemetry: bool = False) -> Subscription:
        """Events of every entry (or of one: a queue id or run id), snapshot first; with
        `telemetry`, GpuTelemetry events too (about once a second when there are GPUs)."""
        lines = _open(self.paths)
        if lines is None:
            raise EngineDisconnected("the engine is gone")
        try:
            _handshake(lines, f"{self.client} (events)")
            lines.send({"op": "subscribe", "id": 1, "ref": ref, "telemetry": telemetry})
            reply = lines.receive(timeout=REQUEST_TIMEOUT)
        except Exception:
            lines.close()
            raise
        if not reply or reply.get("type") != "reply" or not reply.get("ok"):
            lines.close()
            error = (reply or {}).get("error") or {}
            raise EngineError(str(error.get("message") or "the engine refused to subscribe"))
        return Subscription(lines, (reply.get("result") or {}).get("queue_id"))

    def close(self) -> None:
        self._lines.close()

    def __enter__(self) -> EngineClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Subscription:
    """A stream of `Update`s; iterate it (ends when `close()`d, raises EngineDisconnected
    when the engine goes away) or poll with `next(timeout)`. `close()` works from any
    thread, also while another is blocked reading."""

    def __init__(self, lines: _Lines, queue_id: str | None) -> None:
        self.queue_id = queue_id
        self._lines = lines
        self._closed = False

    def next(self, timeout: float | None = None) -> Update | None:
        """The next update; None when `timeout` passes (or after `close`)."""
        while not self._closed:
            try:
                message = self._lines.receive(timeout)
            except EngineDisconnected:
                if self._closed:
                    return None
                raise
            if message is None:
                return None
            kind = message.get("type")
            if kind == "event":
                return Update(message.get("queue_id"), event_from_dict(message.get("event")))
            if kind == "error":
                raise EngineDisconnected(str(message.get("message")))
        return None

    def __iter__(self) -> Iterator[Update]:
        while True:
            update = self.next()
            if update is None:
                return
            yield update

    def close(self) -> None:
        self._closed = True
        self._lines.close()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
