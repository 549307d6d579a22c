"""A run's events across a process boundary: rank 0 of a run the engine launched over
several processes appends each event as one protocol line to a file the engine names
($CNNLAB_EVENTS_FILE), and the engine reads the lines back as they come.

A file, not a pipe: torchrun starts the ranks with their file descriptors closed, but it
passes the environment through; and a file needs no reader to be there first, so a rank
that dies early blocks nobody. The lines are the socket protocol's (`event_to_dict`), so
the dashboards get the same typed events as from a run trained in the engine itself.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from engine.service.protocol import ProtocolError, decode, encode, event_from_dict, event_to_dict

log = logging.getLogger(__name__)

EVENTS_ENV = "CNNLAB_EVENTS_FILE"


class EventFileWriter:
    """A trainer subscriber that appends every event to `path`, one flushed line each."""

    def __init__(self, path: Path | str) -> None:
        self._file = open(path, "ab")  # noqa: SIM115 - open for the run's whole life

    def __call__(self, event: object) -> None:
        try:
            line = encode(event_to_dict(event))
        except ProtocolError as exc:  # too big for one line: the run folder still has it
            log.warning("event %s not forwarded: %s", type(event).__name__, exc)
            return
        self._file.write(line)
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def writer_from_environment() -> EventFileWriter | None:
    """The writer for $CNNLAB_EVENTS_FILE, when the engine launched this process."""
    path = os.environ.get(EVENTS_ENV, "").strip()
    return EventFileWriter(path) if path else None


class EventFileReader:
    """Reads the events appended to `path` since the last `read` (a line still being
    written waits for its newline)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def read(self, deliver: Callable[[object], None]) -> int:
        """Hand each new complete event to `deliver`; how many there were."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return 0
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        count = 0
        for line in lines:
            try:
                event = event_from_dict(decode(line))
            except ProtocolError as exc:
                log.warning("unreadable event line in %s: %s", self.path, exc)
                continue
            deliver(event)
            count += 1
        return count
