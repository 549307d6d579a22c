"""Quitting while the engine has runs: keep them training in the background (the default),
cancel them, or stay.

Training belongs to the background engine, so closing the dashboard never stops it by
accident: enter (or `k`) keeps the runs training — come back with `cnnlab`, or follow them
with `cnnlab watch` — `c` cancels them (finished epochs are kept) and escape (or `s`) stays.
Dismissed with "keep", "cancel" or "stay".
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal
from textual.screen import ModalScreen
from textual.widgets import Button, Label


class QuitScreen(ModalScreen[str]):
    """Ask what becomes of `count` active run(s) when the dashboard closes."""

    DEFAULT_CSS = """
    QuitScreen { align: center middle; }
    QuitScreen > #quit-dialog {
        grid-size: 1 3;
        grid-rows: auto auto 3;
        grid-gutter: 1 0;
        padding: 1 2;
        width: 76;
        max-width: 98%;
        height: auto;
        border: thick $warning 80%;
        background: $surface;
    }
    QuitScreen #quit-title { text-style: bold; width: 100%; }
    QuitScreen #quit-question { width: 100%; }
    QuitScreen #quit-buttons { width: 100%; height: 3; align-horizontal: right; }
    QuitScreen #quit-buttons Button { margin-left: 1; min-width: 8; }
    """

    BINDINGS = [
        Binding("k", "answer('keep')", "Keep training"),
        Binding("c", "answer('cancel')", "Cancel runs"),
        Binding("s,escape", "answer('stay')", "Stay"),
        Binding("left", "focus_other(-1)", "Previous", show=False),
        Binding("right", "focus_other(1)", "Next", show=False),
    ]

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count

    def compose(self) -> ComposeResult:
        runs = f"{self.count} run{'s' if self.count != 1 else ''}"
        question = (
            f"{runs} training or queued in the background engine. Keep them training "
            "after the dashboard closes (reopen cnnlab, or cnnlab watch, to follow them), "
            "cancel them (finished epochs are kept), or stay?"
        )
        with Grid(id="quit-dialog"):
            yield Label("Quit cnnlab?", id="quit-title")
            yield Label(question, id="quit-question", markup=False)
            with Horizontal(id="quit-buttons"):
                yield Button(f"Keep {runs} training (k)", id="quit-keep", variant="primary")
                yield Button("Cancel them (c)", id="quit-cancel", variant="error")
                yield Button("Stay (s)", id="quit-stay")

    def on_mount(self) -> None:
        self.query_one("#quit-keep", Button).focus()  # enter keeps training: never a loss

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(str(event.button.id).removeprefix("quit-"))

    def action_answer(self, answer: str) -> None:
        self.dismiss(answer)

    def action_focus_other(self, step: int) -> None:
        buttons = list(self.query(Button))
        current = next((i for i, b in enumerate(buttons) if b.has_focus), 0)
        buttons[(current + step) % len(buttons)].focus()
