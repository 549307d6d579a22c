"""A reusable yes/no question as a modal screen.

Every destructive action in the dashboard (delete a run, cancel a run, quit while training)
goes through this one screen so the keys and wording stay the same everywhere: `y` / enter
on "Yes" confirms, `n` / escape answers no. The screen is dismissed with a `bool`, so callers
use either a callback or, from a worker, `await app.push_screen_wait(ConfirmScreen(...))`::

    def _delete(answer: bool | None) -> None:
        if answer:
            store.delete(run_id)

    self.app.push_screen(ConfirmScreen("Delete run abc?", yes_label="Delete"), _delete)
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal
from textual.screen import ModalScreen
from textual.widgets import Button, Label


class ConfirmScreen(ModalScreen[bool]):
    """Ask one question; dismiss with True (yes) or False (no / escape)."""

    DEFAULT_CSS = """
    ConfirmScreen {
        align: center middle;
    }
    ConfirmScreen > #confirm-dialog {
        grid-size: 1 3;
        grid-rows: auto auto 3;
        grid-gutter: 1 0;
        padding: 1 2;
        width: 60;
        max-width: 95%;
        height: auto;
        border: thick $warning 80%;
        background: $surface;
    }
    ConfirmScreen #confirm-title {
        text-style: bold;
        width: 100%;
    }
    ConfirmScreen #confirm-question {
        width: 100%;
    }
    ConfirmScreen #confirm-buttons {
        width: 100%;
        height: 3;
        align-horizontal: right;
    }
    ConfirmScreen #confirm-buttons Button {
        margin-left: 2;
        min-width: 10;
    }
    """

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
        Binding("left,right", "toggle_focus", "Switch", show=False),
    ]

    def __init__(
        self,
        question: str,
        *,
        title: str = "Are you sure?",
        yes_label: str = "Yes",
        no_label: str = "No",
        default_yes: bool = False,
    ) -> None:
        """`default_yes` decides which button has focus (so which answer enter gives)."""
        super().__init__()
        self.question = question
        self.title_text = title
        self.yes_label = yes_label
        self.no_label = no_label
        self.default_yes = default_yes

    def compose(self) -> ComposeResult:
        with Grid(id="confirm-dialog"):
            yield Label(self.title_text, id="confirm-title", markup=False)
            yield Label(self.question, id="confirm-question", markup=False)
            with Horizontal(id="confirm-buttons"):
                yield Button(f"{self.no_label} (n)", id="confirm-no")
                yield Button(f"{self.yes_label} (y)", variant="error", id="confirm-yes")

    def on_mount(self) -> None:
        # Focusing "No" by default means a stray enter never destroys anything.
        target = "#confirm-yes" if self.default_yes else "#confirm-no"
        self.query_one(target, Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    def action_toggle_focus(self) -> None:
        yes = self.query_one("#confirm-yes", Button)
        no = self.query_one("#confirm-no", Button)
        (no if yes.has_focus else yes).focus()
