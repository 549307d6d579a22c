"""The dashboard's connection to the background engine of its runs folder (thread side).

Training runs in the engine (`engine.service`), never in the dashboard: closing the
dashboard, losing the terminal or the SSH link leaves it training. One `EngineLink` per app:

* `follow()` runs in a thread worker for the app's whole life: connect, subscribe, post
  every update to the app as `EngineEvent` (the engine's snapshot first — every entry, the
  epochs and batches so far — then live), and when the stream ends say why (`EngineLost`).
  An engine that died is said so and a new one started at once (its queued entries are on
  disk); one that stopped cleanly is waited for, as one that never ran: any client may
  start one, and this dashboard attaches within `POLL_S`.
* An engine is started only when there is work for it: a submission (`client()`), entries
  left queued on disk, or a predecessor that died (its runs wait for a resume).
* Requests go through one shared connection (`EngineClient` serialises them), from other
  thread workers only: nothing here ever runs on the UI thread.

`close()` (from the UI thread) ends every blocked read and wait, so the app exits at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from textual.message import Message

from cnnlab_tui.messages import EngineAttached, EngineEvent, EngineLost

log = logging.getLogger(__name__)

T = TypeVar("T")
POLL_S = 2.0  # how often a dashboard without an engine looks for one
RETRY_S = 5.0  # after an engine would not start
CLIENT_NAME = "cnnlab dashboard"


def work_waiting(runs_dir: Path) -> bool:
    """Entries left queued on disk by an engine that is gone (they need a new engine)."""
    from engine.runs.files import read_json
    from engine.service.paths import EnginePaths

    try:
        entries = read_json(EnginePaths.of(runs_dir).queue).get("entries")
    except (OSError, ValueError, AttributeError):
        return False
    return bool(entries)


class EngineLink:
    """The connection to one runs folder's engine (see the module docstring)."""

    def __init__(self, runs_dir: Path, post: Callable[[Message], Any]) -> None:
        self.runs_dir = Path(runs_dir)
        self._post = post  # App.post_message: thread-safe, never blocks
        self._lock = threading.Lock()  # guards _client and _subscription
        self._connecting = threading.Lock()  # one connect (maybe a start) at a time
        self._client: Any = None  # engine.service.client.EngineClient
        self._subscription: Any = None
        self._closing = threading.Event()
        self._wake = threading.Event()
        self._start_asked = False

    # -- requests (any thread worker) ------------------------------------------------------
    def client(self) -> Any:
        """The shared request connection, connected now (starting an engine when none
        runs; this can take seconds). EngineError when it cannot be had."""
        with self._lock:
            if self._client is not None:
                return self._client
        with self._connecting:
            with self._lock:
                if self._client is not None:
                    return self._client
            client = self._connect(start=True)
            with self._lock:
                self._client = client
        self._start_asked = True
        self._wake.set()  # the follower subscribes to the engine just started
        return client

    def request(self, ask: Callable[[Any], T]) -> T:
        """`ask(client)` on the shared connection; a connection found dead before anything
        was sent (the engine was restarted meanwhile) is replaced and `ask` tried again."""
        from engine.service.client import EngineDisconnected, EngineError

        client = self.client()
        try:
            return ask(client)
        except OSError:  # failed to send: the engine never saw the request
            self._forget(client)
            return ask(self.client())
        except EngineDisconnected as exc:
            self._forget(client)
            raise EngineError(f"{exc}; it may have taken the request (see Live)") from None

    def _forget(self, client: Any) -> None:
        with self._lock:
            if self._client is client:
                self._client = None
        client.close()

    def _connect(self, *, start: bool) -> Any:
        """A client of the engine; with `start`, one is started when none runs.
        EngineNotRunning (no engine, none to start) or EngineError (it would not start)."""
        from engine.service.client import EngineClient, EngineNotRunning

        try:
            return EngineClient.connect(self.runs_dir, client=CLIENT_NAME, abandon=self._closing)
        except EngineNotRunning as exc:
            if not start:
                raise
            notice = exc.notice
        client = EngineClient.connect(
            self.runs_dir, start=True, client=CLIENT_NAME, abandon=self._closing
        )
        client.notice = client.notice or notice
        return client

    # -- following the engine (one thread worker) -----------------------------------------
    def follow(self) -> None:
        """Attach, forward, re-attach, until `close()` (see the module docstring)."""
        from engine.service.client import EngineNotRunning, died_notice
        from engine.service.paths import EngineError, EnginePaths

        paths = EnginePaths.of(self.runs_dir)
        start = died_notice(paths) is not None or work_waiting(self.runs_dir)
        while not self._closing.is_set():
            try:
                with self._connecting:
                    client = self._connect(start=start or self._start_asked)
            except EngineNotRunning as exc:  # none runs, and none was needed
                self._pause(POLL_S)
                start = exc.notice is not None or work_waiting(self.runs_dir)
                continue
            except EngineError as exc:  # it would not start, or we are closing
                if self._closing.is_set():
                    return
                log.warning("engine: %s", exc)
                self._post(EngineLost(str(exc), failed=True))
                self._pause(RETRY_S)
                start = work_waiting(self.runs_dir)
                continue
            self._start_asked = False
            with self._lock:
                self._client = self._client or client
            self._post(EngineAttached(dict(client.engine), client.notice, client.started))
            stopped = self._forward(client)
            if self._closing.is_set():
                return
            notice = None if stopped else died_notice(paths)
            reason = f"the engine stopped ({stopped})" if stopped else "the engine went away"
            self._post(EngineLost(notice or reason, died=notice is not None))
            self._forget(client)
            start = notice is not None or work_waiting(self.runs_dir)

    def _forward(self, client: Any) -> str | None:
        """Post every update until the stream ends; the reason the engine gave for stopping
        (EngineStopping), None when it just went away."""
        from engine.service.client import EngineError
        from engine.service.events import EngineStopping

        stopped: str | None = None
        try:
            subscription = client.subscribe()
        except (EngineError, OSError) as exc:
            log.warning("cannot subscribe: %s", exc)
            return None
        with self._lock:
            self._subscription = subscription
        if self._closing.is_set():
            subscription.close()
        try:
            for update in subscription:
                if isinstance(update.event, EngineStopping):
                    stopped = update.event.reason
                self._post(EngineEvent(update.queue_id, update.event))
        except (EngineError, OSError) as exc:
            log.info("engine stream ended: %s", exc)
        finally:
            subscription.close()
            with self._lock:
                self._subscription = None
        return stopped

    def _pause(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def close(self) -> None:
        """Stop following and end every wait (the UI thread calls it when the app ends)."""
        self._closing.set()
        self._wake.set()
        with self._lock:
            subscription, client = self._subscription, self._client
            self._client = None
        if subscription is not None:
            subscription.close()
        if client is not None:
            client.close()
