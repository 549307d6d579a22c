"""The engine process: one per runs folder, owning its queue and lanes, serving clients.

Why asyncio: one thread multiplexes every client (reads with a size limit, writes with
back-pressure, handshake timeouts) with the standard library alone, and the training threads
hand their events over with `call_soon_threadsafe`, which never blocks them. Every piece of
state — the queue, the active entries, the sessions — lives on the loop's thread; lanes only
run jobs and report back.

Lifecycle: lock → (previous engine died? say so in the log) → load the queue → import the
trainer → bind the socket (owner-only) → write engine.json → serve; it stops on SIGTERM
(active runs end `interrupted`), on `stop` (after the active runs, or cancelling them) or
after `idle_timeout` seconds with nothing queued, nothing running and no client. On the way
out it removes the socket and engine.json and drops the lock; queued entries stay on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import time
from typing import Any

from engine.errors import CnnlabError, ConfigError
from engine.events import RunStarted
from engine.runs.files import read_json, write_json_atomic
from engine.runs.store import pid_alive
from engine.service import lock
from engine.service.events import (
    EngineStopping,
    EntryFinished,
    EntryStarted,
    GpuTelemetry,
    QueueState,
    SnapshotEnd,
)
from engine.service.jobs import REQUEUE, ActiveJob, check_entry, entry_processes
from engine.service.lanes import LaneSet, machine_lanes
from engine.service.live import EntryReplay
from engine.service.paths import EngineError, EnginePaths
from engine.service.protocol import (
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    encode,
    event_message,
    reply_error,
    reply_ok,
)
from engine.service.queue_store import KINDS, MOVES, QueueEntry, QueueStore
from engine.service.sessions import ClientSession

log = logging.getLogger(__name__)

DEFAULT_IDLE_TIMEOUT = 600.0
IDLE_ENV = "CNNLAB_ENGINE_IDLE"
SHUTDOWN_GRACE = 120.0  # seconds active runs get to stop at a batch boundary
EXIT_OK, EXIT_LOCKED = 0, 3


class _Refused(Exception):
    """A request the engine answers with an error reply."""

    def __init__(self, code: str, message: str, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.code, self.message, self.fields = code, message, fields


class Engine:
    """The engine of one runs folder (`serve()` runs it to the end; returns an exit code)."""

    def __init__(
        self,
        paths: EnginePaths,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        *,
        devices: str = "auto",
        cpu_lanes: int = 1,
    ) -> None:
        self.paths = paths
        self.idle_timeout = float(idle_timeout)
        self.devices, self.cpu_lanes = devices, int(cpu_lanes)
        self.store = QueueStore(paths.queue)
        self.lanes = LaneSet(self._run_job, self._job_done)
        self.active: dict[str, ActiveJob] = {}
        self.replays: dict[str, EntryReplay] = {}
        self.sessions: set[ClientSession] = set()
        self.started_at = time.time()
        self.socket_path = paths.default_socket
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining = False
        self._stop_reason: str | None = None
        self._stopped: asyncio.Event | None = None
        self._idle_since: float | None = None
        self.gpus: Any = None  # the process's GpuSampler (engine.telemetry)

    # ------------------------------------------------------------------ lifecycle

    async def serve(self) -> int:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # no terminal to lose, but be sure
        fd = lock.acquire(self.paths)
        if fd is None:
            log.error("another engine already serves %s; exiting", self.paths.runs_dir)
            return EXIT_LOCKED
        try:
            self._loop = asyncio.get_running_loop()
            self._stopped = asyncio.Event()
            self._note_previous_engine()
            self.store = QueueStore.load(self.paths.queue)
            await self._loop.run_in_executor(None, _warm_up)
            specs = await self._loop.run_in_executor(
                None, machine_lanes, self.devices, self.cpu_lanes
            )
            self.lanes.configure(specs, on_demand=self.devices.strip().lower() == "auto")
            self.gpus = await self._loop.run_in_executor(None, _start_telemetry)
            server = await self._bind()
            self._write_info()
            self._install_signals()
            log.info(
                "engine %d serving %s on %s (idle exit after %s); lanes: %s",
                os.getpid(), self.paths.runs_dir, self.socket_path, self._idle_text(),
                self._lanes_text(),
            )  # fmt: skip
            self._schedule()
            watcher = asyncio.create_task(self._watch_idle())
            telemetry = asyncio.create_task(self._send_telemetry())
            await self._stopped.wait()
            watcher.cancel()
            telemetry.cancel()
            await self._close(server)
            log.info("engine %d stopped (%s)", os.getpid(), self._stop_reason)
            return EXIT_OK
        finally:
            if self.gpus is not None:
                from engine.telemetry import release_sampler

                release_sampler()
            self._remove_files()
            lock.release(fd)

    async def _bind(self) -> asyncio.AbstractServer:
        path = self.paths.choose_socket()
        path.unlink(missing_ok=True)  # we hold the lock: any socket file left is stale
        old = os.umask(0o177)
        try:
            server = await asyncio.start_unix_server(
                self._on_connect, path=str(path), limit=MAX_MESSAGE_BYTES
            )
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        self.socket_path = path
        return server

    def _install_signals(self) -> None:
        loop = self._loop
        assert loop is not None
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.shutdown, signal.Signals(signum).name)

    def shutdown(self, signal_name: str) -> None:
        """SIGTERM: every active run stops at its next batch, ends `interrupted` (resumable);
        queued entries stay queued on disk for the next engine."""
        if self._stop_reason is None:
            self._stop_reason = signal_name
        log.info("%s: interrupting %d active entr(ies)", signal_name, len(self.active))
        reason = f"interrupted by {signal_name} to the engine"
        for job in self.active.values():
            job.interrupt(reason)
        self._begin_stop(signal_name, grace=True)

    def _begin_stop(self, reason: str, *, grace: bool) -> None:
        """Start no more entries; exit once the active ones have ended (after at most
        SHUTDOWN_GRACE seconds with `grace`, when they were asked to stop)."""
        assert self._loop is not None
        if grace:
            self._loop.call_later(SHUTDOWN_GRACE, self._give_up_waiting)
        if not self._draining:
            self._draining = True
            self._stop_reason = self._stop_reason or reason
            self._broadcast(None, EngineStopping(self._stop_reason))
            self._queue_changed()
        self._check_drained()

    def _give_up_waiting(self) -> None:
        if self.active and self._stopped is not None and not self._stopped.is_set():
            log.error("%d entr(ies) did not stop within %.0f s; exiting anyway",
                      len(self.active), SHUTDOWN_GRACE)  # fmt: skip
            self._stopped.set()

    def _check_drained(self) -> None:
        if self._draining and not self.active and self._stopped is not None:
            self._stopped.set()

    async def _close(self, server: asyncio.AbstractServer) -> None:
        server.close()
        for session in list(self.sessions):
            session.close_soon()
        deadline = time.monotonic() + 3.0
        while self.sessions and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        self.lanes.close(timeout=1.0)

    async def _watch_idle(self) -> None:
        while True:
            await asyncio.sleep(0.25 if self.idle_timeout < 5 else 1.0)
            busy = self.active or self.store.entries or self.sessions
            if busy or self.idle_timeout <= 0 or self._draining:
                self._idle_since = None
                continue
            now = time.monotonic()
            self._idle_since = self._idle_since or now
            if now - self._idle_since >= self.idle_timeout:
                log.info("idle for %.0f s: exiting", self.idle_timeout)
                self._begin_stop("idle", grace=False)

    async def _send_telemetry(self) -> None:
        """Every sampler interval, the GPUs to the subscribers that asked for them."""
        from engine.telemetry.sampler import INTERVAL

        while True:
            await asyncio.sleep(INTERVAL)
            wanted = any(s.telemetry and s.subscribed for s in self.sessions)
            if wanted and self.gpus is not None and self.gpus.available:
                self._broadcast(None, self.telemetry_event())

    def telemetry_event(self) -> GpuTelemetry:
        if self.gpus is None:
            return GpuTelemetry(False, "GPU telemetry has not started")
        snapshot = self.gpus.snapshot().to_dict()
        return GpuTelemetry(**snapshot)

    def _note_previous_engine(self) -> None:
        """engine.json left behind by an engine that did not exit cleanly: keep it as
        previous.json, for the record (the client that started this engine has said so)."""
        info = _read_info(self.paths)
        if info and info.get("pid") != os.getpid():
            alive = pid_alive(info.get("pid")) and info.get("host") == socket.gethostname()
            if not alive:
                log.warning("the previous engine (pid %s) stopped unexpectedly", info.get("pid"))
                os.replace(self.paths.info, self.paths.previous_info)

    def _write_info(self) -> None:
        write_json_atomic(self.paths.info, self.info())

    def _remove_files(self) -> None:
        """A clean exit leaves no socket and no engine.json (one left means a crash)."""
        with contextlib.suppress(OSError):
            self.socket_path.unlink()
        if (_read_info(self.paths) or {}).get("pid") == os.getpid():
            with contextlib.suppress(OSError):
                self.paths.info.unlink()

    def info(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "protocol": PROTOCOL_VERSION,
            "runs_dir": str(self.paths.runs_dir),
            "socket": str(self.socket_path),
            "started_at": self.started_at,
            "idle_timeout": self.idle_timeout,
            "cwd": os.getcwd(),
            "devices": self.devices,
            "cpu_lanes": self.cpu_lanes,
        }

    def _idle_text(self) -> str:
        return "never" if self.idle_timeout <= 0 else f"{self.idle_timeout:g} s idle"

    def _lanes_text(self) -> str:
        return ", ".join(
            lane.name + (f" ({lane.spec.threads} threads)" if lane.spec.threads else "")
            for lane in self.lanes.lanes.values()
        )

    # ------------------------------------------------------------------ clients

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = ClientSession(reader, writer, self._handle, self._welcome)
        self.sessions.add(session)
        try:
            await session.serve()
        except Exception:  # a client must never take the engine down
            log.exception("client %s", session.client)
        finally:
            self.sessions.discard(session)

    def _welcome(self) -> dict[str, Any]:
        return {"type": "welcome", "protocol": PROTOCOL_VERSION, "engine": self.info()}

    async def _handle(self, session: ClientSession, message: dict[str, Any]) -> dict | None:
        request_id = message.get("id")
        op = message.get("op")
        handler = _OPS.get(str(op))
        if handler is None:
            known = ", ".join(sorted(_OPS))
            return reply_error(request_id, "unknown_op", f"unknown op {op!r} (known: {known})")
        try:
            result = await handler(self, session, message)
        except _Refused as exc:
            return reply_error(request_id, exc.code, exc.message, exc.fields)
        except Exception as exc:  # a bug answering one request must not end the engine
            log.exception("op %s failed", op)
            return reply_error(request_id, "internal", f"the engine failed on {op}: {exc}")
        if result is _REPLIED:
            return None
        return reply_ok(request_id, result)

    # ------------------------------------------------------------------ ops

    async def op_ping(self, session: ClientSession, message: dict) -> dict:
        return {"pong": True}

    async def op_status(self, session: ClientSession, message: dict) -> dict:
        return {
            **self.info(),
            "clients": len(self.sessions),
            "lanes": self.lanes.describe(),
            "active": len(self.active),
            "queued": len(self.store.entries),
            "stopping": self._stop_reason if self._draining else None,
        }

    async def op_list(self, session: ClientSession, message: dict) -> dict:
        return {"entries": self.views(), "lanes": self.lanes.describe()}

    async def op_submit(self, session: ClientSession, message: dict) -> dict:
        entry = _entry_from(message)
        assert self._loop is not None
        try:
            entry = await self._loop.run_in_executor(None, check_entry, entry, self.paths.runs_dir)
        except ConfigError as exc:
            raise _Refused("invalid", "invalid configuration", dict(exc.errors)) from None
        except CnnlabError as exc:
            raise _Refused("refused", str(exc)) from None
        if entry.kind == "resume":
            self._refuse_second_resume(str(entry.resume["run_id"]))
        gang = entry_processes(entry) if entry.kind in ("run", "resume") else 1
        refusal = self.lanes.refusal(entry.device, gang)
        if refusal:
            raise _Refused("refused", refusal)
        entry.queue_id = self.store.new_id()
        self.store.add(entry)
        log.info("queued %s: %s", entry.queue_id, entry.label)
        self._queue_changed()
        self._schedule()
        return {"entry": self.view(entry.queue_id), "stopping": self._draining}

    def _refuse_second_resume(self, run_id: str) -> None:
        for queue_id, replay in self.replays.items():
            if run_id in replay.run_ids:
                raise _Refused("refused", f"run {run_id} is training in {queue_id}")
        for entry in self.store.entries:
            if entry.kind == "resume" and (entry.resume or {}).get("run_id") == run_id:
                raise _Refused("refused", f"run {run_id} is already queued ({entry.queue_id})")

    async def op_cancel(self, session: ClientSession, message: dict) -> dict:
        queue_id = self.resolve(message.get("ref"))
        if queue_id in self.active:
            self.active[queue_id].cancel()
            self._queue_changed()
            return {"queue_id": queue_id, "was": "running"}
        self.store.remove(queue_id)
        self._broadcast(queue_id, EntryFinished(queue_id, "cancelled", "removed from the queue"))
        self._queue_changed()
        return {"queue_id": queue_id, "was": "queued"}

    async def op_move(self, session: ClientSession, message: dict) -> dict:
        queue_id = self.resolve(message.get("ref"))
        where = str(message.get("where"))
        if where not in MOVES:
            raise _Refused("bad_request", f"move where? one of {', '.join(MOVES)}")
        if queue_id in self.active:
            raise _Refused("refused", f"{queue_id} is already running; only queued ones move")
        position = self.store.move(queue_id, where)
        self._queue_changed()
        return {"queue_id": queue_id, "position": position}

    async def op_subscribe(self, session: ClientSession, message: dict) -> object:
        """Reply, then the snapshot, then live events — all sent before any other event
        can reach this session (no await in between), so nothing is missed or doubled."""
        ref = message.get("ref")
        only = self.resolve(ref) if ref else None
        session.send(reply_ok(message.get("id"), {"queue_id": only}))
        session.telemetry = bool(message.get("telemetry"))
        self._send_snapshot(session, only)
        session.only, session.subscribed = only, True
        return _REPLIED

    def _send_snapshot(self, session: ClientSession, only: str | None) -> None:
        session.send(event_message(None, self._queue_state()))
        shown = [q for q in self.active if only in (None, q)]
        for queue_id in shown:
            job, replay = self.active[queue_id], self.replays[queue_id]
            started = EntryStarted(queue_id, job.entry.kind, job.lane, job.entry.label)
            session.send(event_message(queue_id, started))
            for event in replay.replay():
                session.send(event_message(queue_id, event))
            chunks, floor = replay.batch_history()
            for chunk in chunks:
                session.send(event_message(queue_id, chunk))
            if replay.run_id is not None:
                session.floors[replay.run_id] = floor
        if session.telemetry:
            session.send(event_message(None, self.telemetry_event()))
        session.send(event_message(None, SnapshotEnd(shown)))

    async def op_stop(self, session: ClientSession, message: dict) -> dict:
        cancel, wait = bool(message.get("cancel")), bool(message.get("wait"))
        active = self.views(active_only=True)
        if active and not (cancel or wait):
            names = ", ".join(f"{v['queue_id']} ({v.get('run_id') or v['label']})" for v in active)
            raise _Refused(
                "busy",
                f"{len(active)} entr(ies) still running: {names}. Stop with --wait to let "
                "them finish first, or --cancel to cancel them (finished epochs are kept).",
            )
        if cancel:
            for job in self.active.values():
                job.cancel()
        queued = len(self.store.entries)
        assert self._loop is not None
        self._loop.call_soon(lambda: self._begin_stop("stop", grace=cancel))
        return {"active": len(active), "queued": queued, "cancelled": cancel}

    async def op_telemetry(self, session: ClientSession, message: dict) -> dict:
        """The GPUs now, with their last minute (see GpuTelemetry)."""
        event = self.telemetry_event()
        return {k: getattr(event, k) for k in GpuTelemetry.__dataclass_fields__}

    async def op_configure(self, session: ClientSession, message: dict) -> dict:
        value = message.get("idle_timeout")
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise _Refused("bad_request", "idle_timeout: seconds ≥ 0 (0: never exit when idle)")
        self.idle_timeout = float(value)
        self._write_info()
        return {"idle_timeout": self.idle_timeout}

    # ------------------------------------------------------------------ queue and lanes

    def resolve(self, ref: Any) -> str:
        """The queue id `ref` names: a queue id, or (part of) a run id of an active entry."""
        ref = str(ref or "").strip()
        if ref in self.active or self.store.get(ref) is not None:
            return ref
        matches = {q for q, replay in self.replays.items() for r in replay.run_ids if ref in r}
        matches |= {
            e.queue_id
            for e in self.store.entries
            if e.kind == "resume" and ref and ref in str((e.resume or {}).get("run_id"))
        }
        if len(matches) == 1 and ref:
            return matches.pop()
        if matches:
            raise _Refused("ambiguous", f"{ref!r} matches {', '.join(sorted(matches))}")
        raise _Refused("not_found", f"no queued or running entry {ref!r} (cnnlab queue lists them)")

    def _schedule(self) -> None:
        """Give every free lane work, first come first served: a running sweep that can use
        another lane gets it before entries queued after it; then each queued entry, in
        order, takes a free lane it may run on (a pinned entry waits for its own lane
        without holding up the others)."""
        if self._draining:
            return
        for job in list(self.active.values()):
            self._grow(job)
        for entry in list(self.store.entries):
            lane = self.lanes.free_for(entry.device)
            if lane is None:
                continue
            self.store.take(entry.queue_id, lane.name)
            job = ActiveJob(entry, lane.spec.slot(), self._lane_done)
            self.active[entry.queue_id] = job
            self.replays[entry.queue_id] = EntryReplay()
            self.lanes.start(job, lane)
            log.info("%s started on lane %s", entry.queue_id, lane.name)
            started = EntryStarted(entry.queue_id, entry.kind, lane.name, entry.label)
            self._broadcast(entry.queue_id, started)
            self._grow(job)
            self._queue_changed()

    def _grow(self, job: ActiveJob) -> None:
        """Offer a running sweep each free lane it may use while it wants more."""
        grown = False
        while job.wants_lanes():
            lane = self.lanes.free_for(job.entry.device)
            if lane is None:
                break
            self.lanes.hold(lane, job)
            job.offer(lane.spec.slot())
            log.info("%s also runs on lane %s", job.queue_id, lane.name)
            grown = True
        if grown:
            self._queue_changed()

    def _run_job(self, job: ActiveJob) -> tuple[str, str | None, list[str]]:
        """On the lane's thread: run the job, handing each event to the loop."""
        return job.run(self.paths.runs_dir, lambda event: self._to_loop(self._on_event, job, event))

    def _lane_done(self, job: ActiveJob, lane: str) -> None:
        """A sweep has no point left for `lane` (called on its worker's thread)."""
        self._to_loop(self._free_lane, job, lane)

    def _free_lane(self, job: ActiveJob, lane: str) -> None:
        if self.lanes.release(lane, job):
            log.info("%s is done with lane %s", job.queue_id, lane)
            self._queue_changed()
            self._schedule()

    def _job_done(self, job: ActiveJob, status: str, error: str | None, run_ids: list) -> None:
        self._to_loop(self._on_done, job, status, error, run_ids)

    def _to_loop(self, fn, *args) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: the engine is exiting
                loop.call_soon_threadsafe(fn, *args)

    def _on_event(self, job: ActiveJob, event: object) -> None:
        replay = self.replays.get(job.queue_id)
        if replay is not None:
            replay.record(event)
        self._broadcast(job.queue_id, event)
        if isinstance(event, RunStarted) and replay is not None:
            self.store.remember(job.entry, job.lane, run_ids=list(replay.run_ids))
            self._queue_changed()

    def _on_done(self, job: ActiveJob, status: str, error: str | None, run_ids: list) -> None:
        queue_id = job.queue_id
        self.active.pop(queue_id, None)
        self.replays.pop(queue_id, None)
        self.lanes.release_all(job)
        if status == REQUEUE:  # interrupted before it began: first in line next time
            self.store.put_back(job.entry)
            log.info("%s put back in the queue", queue_id)
        else:
            log.info("%s ended %s%s", queue_id, status, f": {error}" if error else "")
            self.store.remember(job.entry, job.lane, status=status, run_ids=list(run_ids))
            self._broadcast(queue_id, EntryFinished(queue_id, status, error, list(run_ids)))
        self._queue_changed()
        self._schedule()
        self._check_drained()

    # ------------------------------------------------------------------ what clients see

    def view(self, queue_id: str) -> dict[str, Any]:
        job = self.active.get(queue_id)
        entry = job.entry if job else self.store.get(queue_id)
        assert entry is not None
        view = {
            "queue_id": queue_id,
            "kind": entry.kind,
            "label": entry.label,
            "device": entry.device,
            "submitted_at": entry.submitted_at,
        }
        if job is not None:
            state = "stopping" if job.stopping else "running"
            held = [lane.name for lane in self.lanes.lanes.values() if lane.job is job]
            view.update(state=state, lane=",".join(held) or job.lane, lanes=held, position=0)
            if job.gang > len(held):  # a run over N GPUs holds lanes until it has N
                view["waiting_for_lanes"] = job.gang - len(held)
            view.update(self.replays[queue_id].progress())
            for run in view["runs"]:
                run["lane"] = run["lane"] or job.lane
        else:
            view.update(state="queued", position=self.store.position(queue_id))
            view["lane"] = self.lanes.text_for(entry.device)
        if not view.get("run_id"):  # a resume names its run before it starts
            view["run_id"] = (entry.resume or {}).get("run_id")
        return view

    def views(self, *, active_only: bool = False) -> list[dict[str, Any]]:
        ids = list(self.active) + ([] if active_only else [e.queue_id for e in self.store.entries])
        return [self.view(q) for q in ids]

    def _queue_state(self) -> QueueState:
        return QueueState(self.views(), self.lanes.describe())

    def _queue_changed(self) -> None:
        self._broadcast(None, self._queue_state())

    def _broadcast(self, queue_id: str | None, event: object) -> None:
        if not self.sessions:
            return
        try:
            data = encode(event_message(queue_id, event))
        except Exception as exc:  # one odd event must not break the stream
            log.warning("event %s not sent: %s", type(event).__name__, exc)
            return
        droppable = type(event).__name__ == "BatchProgress"
        for session in list(self.sessions):
            if session.wants(queue_id, event):
                session.send_bytes(data, droppable=droppable)


_REPLIED = object()  # an op that sent its reply itself (subscribe)
_OPS = {
    "ping": Engine.op_ping,
    "status": Engine.op_status,
    "list": Engine.op_list,
    "submit": Engine.op_submit,
    "cancel": Engine.op_cancel,
    "move": Engine.op_move,
    "subscribe": Engine.op_subscribe,
    "stop": Engine.op_stop,
    "configure": Engine.op_configure,
    "telemetry": Engine.op_telemetry,
}


def _entry_from(message: dict[str, Any]) -> QueueEntry:
    """A QueueEntry from a submit request (checked afterwards by `check_entry`)."""
    kind = message.get("kind")
    if kind not in KINDS:
        raise _Refused("bad_request", f"submit what? kind is one of {', '.join(KINDS)}")
    device = message.get("device")
    payload_key = {"run": "config", "sweep": "sweep", "search": "sweep", "resume": "resume"}[kind]
    payload = message.get(payload_key)
    if not isinstance(payload, dict):
        raise _Refused("bad_request", f"a {kind} submission needs its {kind} settings")
    payload = json.loads(json.dumps(payload))  # a private copy
    if isinstance(device, str) and device:
        if kind == "run":
            payload["device"] = device
        elif kind in ("sweep", "search") and isinstance(payload.get("base"), dict):
            payload["base"]["device"] = device
        elif kind == "resume":
            payload.setdefault("overrides", {})["device"] = device
    entry = QueueEntry(queue_id="", kind=kind, label=str(message.get("label") or "")[:200])
    setattr(entry, payload_key, payload)
    return entry


def _read_info(paths: EnginePaths) -> dict[str, Any] | None:
    try:
        info = read_json(paths.info)
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _warm_up() -> None:
    """Import the trainer before serving, so the first run starts without the wait."""
    import engine.sweeps.runner  # noqa: F401
    import engine.trainer.loop  # noqa: F401
    from engine.trainer.device import auto_device

    auto_device()


def _start_telemetry() -> Any:
    """The process's GPU sampler (a one-line message inside when there is no GPU)."""
    from engine.telemetry import shared_sampler

    return shared_sampler()


def idle_timeout_default() -> float:
    """$CNNLAB_ENGINE_IDLE seconds, else 600; EngineError for a value that is not one."""
    text = os.environ.get(IDLE_ENV, "").strip()
    if not text:
        return DEFAULT_IDLE_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        raise EngineError(f"${IDLE_ENV} must be seconds, got {text!r}") from None
    if value < 0 or value != value:
        raise EngineError(f"${IDLE_ENV} must be seconds ≥ 0, got {text!r}")
    return value
