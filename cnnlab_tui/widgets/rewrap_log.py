"""A log pane that re-wraps on resize: Textual's RichLog keeps lines as rendered at the
width they were written at, so this one keeps the raw lines too and writes them again
whenever its width changes."""

from __future__ import annotations

from collections import deque
from typing import Any

from textual import events
from textual.widgets import RichLog


class RewrapLog(RichLog):
    """`add(line)` / `reset()`; `raw_lines` are the lines as given (the last `max_lines`)."""

    def __init__(self, *, max_lines: int = 500, **kwargs: Any) -> None:
        super().__init__(max_lines=max_lines, wrap=True, **kwargs)
        self.raw_lines: deque[str] = deque(maxlen=max_lines)
        self._wrapped_at = 0

    def add(self, line: str) -> None:
        """Keep `line` and show it."""
        self.raw_lines.append(line)
        self.write(line)

    def reset(self) -> None:
        """Forget every line (a new run is shown)."""
        self.raw_lines.clear()
        self.clear()

    def on_resize(self, event: events.Resize) -> None:
        width = event.size.width
        if not width:
            return
        if not self._wrapped_at:  # the first size: RichLog writes what waited for it
            self._wrapped_at = width
            super().on_resize(event)
            return
        if width != self._wrapped_at:
            self._wrapped_at = width
            self.clear()
            for line in self.raw_lines:
                self.write(line)
