"""One client connection to the engine: read its requests, write replies and events.

Nothing a client does can stop the engine or slow training: every message to a client goes
through its own bounded queue, filled without waiting (`send`); a client that falls behind
first misses batch progress (coalescing: the next one carries the same information), then
is dropped. A line over the size limit, a client that disconnects mid-message or one that
sends no hello ends only that connection; bad JSON is answered and reading goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from engine.events import BatchProgress
from engine.service.protocol import (
    PROTOCOL_VERSION,
    ProtocolError,
    connection_error,
    decode,
    encode,
    reply_error,
    version_message,
)

log = logging.getLogger(__name__)

OUTGOING_LIMIT = 2048  # messages waiting for one client; full → the client is dropped
HANDSHAKE_TIMEOUT = 10.0  # seconds a new connection has to say hello
MAX_BAD_MESSAGES = 20  # malformed lines one connection may send before it is closed
FLUSH_TIMEOUT = 2.0  # seconds to hand a closing client what is still queued for it

Handler = Callable[["ClientSession", dict[str, Any]], Awaitable[dict[str, Any] | None]]


def peer_uid(sock: socket.socket | None) -> int | None:
    """The uid of the process at the other end (Linux SO_PEERCRED); None where unknown."""
    option = getattr(socket, "SO_PEERCRED", None)
    if sock is None or option is None:
        return None
    try:
        data = sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    except OSError:
        return None
    return struct.unpack("3i", data)[1]


class ClientSession:
    """A connected client; `engine` answers its requests (`handle`) and reads `welcome`."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        handle: Handler,
        welcome: Callable[[], dict[str, Any]],
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._handle = handle
        self._welcome = welcome
        self._outgoing: asyncio.Queue[bytes | None] = asyncio.Queue(OUTGOING_LIMIT)
        self.closed = False
        self.subscribed = False
        self.only: str | None = None  # follow one queue entry (None: all)
        self.telemetry = False  # asked for GpuTelemetry events
        self.floors: dict[str, int] = {}  # run id → last batch step its history held
        self.client = "?"

    # -- sending (from the engine's loop thread, never waiting) ---------------------------
    def send(self, message: dict[str, Any]) -> None:
        try:
            self.send_bytes(encode(message))
        except ProtocolError as exc:  # a reply too large to send: say so instead
            log.warning("message to %s not sent: %s", self.client, exc)
            self.send_bytes(encode(reply_error(message.get("id"), "too_large", str(exc))))

    def send_bytes(self, data: bytes, *, droppable: bool = False) -> None:
        if self.closed:
            return
        if droppable and self._outgoing.qsize() >= OUTGOING_LIMIT // 2:
            return  # behind: skip batch progress rather than queue it
        try:
            self._outgoing.put_nowait(data)
        except asyncio.QueueFull:
            self.drop("it did not read the engine's messages fast enough")

    def wants(self, queue_id: str | None, event: object) -> bool:
        """Is this subscriber following `event` (of entry `queue_id`)?"""
        if not self.subscribed:
            return False
        if type(event).__name__ == "GpuTelemetry":
            return self.telemetry
        if queue_id is not None and self.only is not None and queue_id != self.only:
            return False
        if isinstance(event, BatchProgress):
            floor = self.floors.get(event.run_id)
            if floor is not None:
                step = (event.epoch - 1) * event.num_batches + event.batch
                if step <= floor:
                    return False
                del self.floors[event.run_id]  # past the history: no more checks needed
        return True

    def drop(self, reason: str) -> None:
        """Hang up now, telling the client why (best effort), and forget what is queued."""
        if self.closed:
            return
        log.warning("dropping client %s: %s", self.client, reason)
        self.closed = True
        transport = self._writer.transport
        with contextlib.suppress(Exception):
            transport.write(encode(connection_error("dropped", f"dropped by the engine: {reason}")))
        transport.close()

    # -- serving -------------------------------------------------------------------------
    async def serve(self) -> None:
        writing = asyncio.create_task(self._write_loop())
        try:
            uid = peer_uid(self._writer.get_extra_info("socket"))
            if uid is not None and uid != os.getuid():
                self.send(connection_error("forbidden", "this engine serves its own user only"))
                return
            if await self._handshake():
                await self._read_loop()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away, possibly mid-message: nothing to do
        finally:
            await self._finish(writing)

    async def _handshake(self) -> bool:
        try:
            line = await asyncio.wait_for(self._reader.readuntil(b"\n"), HANDSHAKE_TIMEOUT)
        except asyncio.TimeoutError:
            self.send(connection_error("handshake", "no hello within the time allowed"))
            return False
        except asyncio.LimitOverrunError:
            self.send(connection_error("too_large", "the hello is over the size limit"))
            return False
        try:
            message = decode(line)
        except ProtocolError as exc:
            self.send(connection_error("handshake", f"expected a hello: {exc}"))
            return False
        if message.get("op") != "hello":
            self.send(connection_error("handshake", 'the first message must be {"op": "hello"}'))
            return False
        if message.get("protocol") != PROTOCOL_VERSION:
            self.send(connection_error("version", version_message(message.get("protocol"))))
            return False
        self.client = str(message.get("client") or "?")[:80]
        self.send(self._welcome())
        return True

    async def _read_loop(self) -> None:
        bad = 0
        while not self.closed:
            try:
                line = await self._reader.readuntil(b"\n")
            except asyncio.LimitOverrunError:
                self.send(connection_error("too_large", "a message is over the size limit"))
                return
            try:
                message = decode(line)
            except ProtocolError as exc:
                bad += 1
                self.send(reply_error(None, "bad_message", str(exc)))
                if bad >= MAX_BAD_MESSAGES:
                    self.send(connection_error("bad_message", "too many malformed messages"))
                    return
                continue
            reply = await self._handle(self, message)
            if reply is not None:
                self.send(reply)

    async def _write_loop(self) -> None:
        while True:
            data = await self._outgoing.get()
            if data is None:
                return
            self._writer.write(data)
            await self._writer.drain()

    async def _finish(self, writing: asyncio.Task) -> None:
        """Hand over what is queued (a final error, say) for a moment, then hang up."""
        if not self.closed:
            with contextlib.suppress(asyncio.QueueFull):
                self._outgoing.put_nowait(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writing, FLUSH_TIMEOUT)
        self.closed = True
        writing.cancel()
        with contextlib.suppress(Exception):
            self._writer.close()

    def close_soon(self) -> None:
        """The engine is stopping: finish after what is queued (the read loop ends on EOF)."""
        with contextlib.suppress(asyncio.QueueFull):
            self._outgoing.put_nowait(None)
        self._reader.feed_eof()
