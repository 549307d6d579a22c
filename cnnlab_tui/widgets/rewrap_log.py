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
        """Keep `line` and show it, wrapped at the pane's width."""
        self.raw_lines.append(line)
        self.write(line, width=self._width())

    def reset(self) -> None:
        """Forget every line (a new run is shown)."""
        self.raw_lines.clear()
        self.clear()

    def _width(self) -> int | None:
        """The text width (the app console's width caps RichLog's own measure: pass it)."""
        width = self.scrollable_content_region.width
        return max(self.min_width, width) if width > 0 else None

    def on_resize(self, event: events.Resize) -> None:
        super().on_resize(event)  # the first size: RichLog writes what waited for it
        width = self._width()
        if width is None or width == self._wrapped_at:
            return
        self._wrapped_at = width
        self.clear()
        for line in self.raw_lines:
            self.write(line, width=width)
