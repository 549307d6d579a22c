"""The top line of every screen: which mode you are in and the keys that switch modes.

It replaces Textual's Header (a title and a clock) so the five mode keys live in one place
that is always visible; the footer below then has its 80 columns for the screen's own keys
(mode keys in the footer used to push those off the edge at 80×24). Each label is also
clickable. While the background engine has runs, the line's end says so ("● 2 runs in
engine": they go on when the dashboard closes) instead of the palette and quit keys.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

# (mode, key shown, label): the app binds the same keys (f1-f5; ctrl+n/l/r/o too).
MODE_KEYS: tuple[tuple[str, str, str], ...] = (
    ("new_run", "F1", "New"),
    ("live", "F2", "Live"),
    ("runs", "F3", "Runs"),
    ("compare", "F4", "Compare"),
    ("conv_lab", "F5", "Conv lab"),
)


def mode_line(current: str, engine_status: str = "") -> Text:
    """'cnnlab  F1 New  F2 Live …  ^p commands ^q quit' with `current` highlighted; with
    `engine_status` ("● 2 runs in engine") in place of the last two keys."""
    line = Text.from_markup("[b]cnnlab[/b] ")
    for mode, key, label in MODE_KEYS:
        style = "reverse bold" if mode == current else ""
        line.append(" ")
        part = Text.from_markup(
            f"[@click=app.switch_mode('{mode}')][b]{key}[/b] {label}[/]", style=style
        )
        line.append_text(part)
        line.append(" ")
    if engine_status:
        line.append(f"  {engine_status}", style="bold")
    else:
        line.append_text(Text.from_markup("  [dim]^p commands ^q quit[/dim]"))
    return line


class ModeBar(Static):
    """One line naming the screen's mode among all five (pass the mode the screen is in)."""

    DEFAULT_CSS = """
    ModeBar {
        height: 1;
        width: 100%;
        background: $panel;
        color: $text;
    }
    """

    def __init__(self, mode: str, **kwargs) -> None:
        super().__init__(mode_line(mode), **kwargs)
        self.mode = mode

    def on_mount(self) -> None:
        if hasattr(self.app, "engine_status"):  # the cnnlab app (not a bare test app)
            self.watch(self.app, "engine_status", self._show_engine_status)

    def _show_engine_status(self, status: str) -> None:
        self.update(mode_line(self.mode, status))
