"""What the Run detail's Errors / Predict / Evaluations panes share: calling back into the
UI from a worker thread safely, and the one way they turn an engine failure into words."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from textual.widget import Widget

from engine.errors import CnnlabError

log = logging.getLogger(__name__)


def to_ui(widget: Widget, callback: Callable[..., Any], *args: Any) -> None:
    """From a worker thread: `callback(*args)` on the UI thread while `widget` is mounted
    (a result that arrives after the pane or the app went away is dropped)."""

    def guarded() -> None:
        if widget.is_attached:
            callback(*args)

    with contextlib.suppress(RuntimeError):  # the app's event loop has already stopped
        widget.app.call_from_thread(guarded)


def failure_text(error: BaseException) -> str:
    """A notification for a failed job: a person's mistake as it is, anything else briefly
    (the traceback goes to the dashboard's log file, never to the screen)."""
    if isinstance(error, CnnlabError):
        return str(error)
    log.error("run detail job failed", exc_info=error)
    return f"{type(error).__name__}: {error}"
