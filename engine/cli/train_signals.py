"""A foreground `cnnlab train` told to stop from outside: SIGTERM (a scheduler, `kill`) or
SIGHUP (the terminal or SSH link went away).

The run stops at the next batch boundary and is recorded `interrupted` with the signal's
name (summary.json's error and run.log), keeping the last finished epoch's checkpoint to
resume from; the command then exits with 128 + the signal's number. Ctrl-C (SIGINT) stays a
person's cancel. After SIGHUP nothing is written to the terminal any more (it is gone, and
writing to it would fail). A signal the command was started ignoring (`nohup`) stays
ignored.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

STOP_SIGNALS = ("SIGTERM", "SIGHUP")


def mute(consoles: tuple[Any, ...]) -> None:
    """Send the consoles' output nowhere (the terminal is gone)."""
    for console in consoles:
        console.file = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the console


@contextlib.contextmanager
def interrupt_on_signals(trainer: Any, consoles: tuple[Any, ...]) -> Iterator[list[int]]:
    """While inside, SIGTERM and SIGHUP interrupt `trainer`; yields the list of signal
    numbers received (empty when none came)."""
    received: list[int] = []

    def handle(signum: int, frame: object) -> None:
        received.append(signum)
        if signum == getattr(signal, "SIGHUP", None):
            mute(consoles)
        trainer.interrupt(f"interrupted by {signal.Signals(signum).name}")

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for name in STOP_SIGNALS:
            signum = getattr(signal, name, None)
            if signum is None or signal.getsignal(signum) == signal.SIG_IGN:
                continue
            previous[signum] = signal.signal(signum, handle)
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name
