"""The top line of every screen: which mode you are in and the keys that switch modes.

It replaces Textual's Header (a title and a clock) so the five mode keys live in one place
that is always visible; the footer below then has its 80 columns for the screen's own keys
(mode keys in the footer used to push those off the edge at 80×24). Each label is also
clickable.
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


def mode_line(current: str) -> Text:
    """'cnnlab  F1 New  F2 Live …  ^p commands' with `current` highlighted."""
    line = Text.from_markup("[b]cnnlab[/b] ")
    for mode, key, label in MODE_KEYS:
        style = "reverse bold" if mode == current else ""
        line.append(" ")
        part = Text.from_markup(
            f"[@click=app.switch_mode('{mode}')][b]{key}[/b] {label}[/]", style=style
        )
        line.append_text(part)
        line.append(" ")
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
