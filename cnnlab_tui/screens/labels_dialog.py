"""Name and annotate a run: `n` on Runs opens `LabelsScreen` (name, note, tags).

The labels are the engine's (`engine.runs.labels`, stored in the run folder's labels.json
by `RunStore.set_labels`), so the CLI, Runs, Run detail and Compare all show the same
name. The store checks them (a bad or duplicate name raises `ValueError`); the dialog
shows that message under the fields and stays open, so a typo never costs the typing.
"""

from __future__ import annotations

import re
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from cnnlab_tui.messages import WorkerAnswer

_TAG_SPLIT = re.compile(r"[,\s]+")


def parse_tags(text: str) -> list[str]:
    """Tags typed as `a, b c` → `["a", "b", "c"]` (each once, in order)."""
    return list(dict.fromkeys(tag for tag in _TAG_SPLIT.split(text.strip()) if tag))


def current_labels(record: Any) -> tuple[str, str, list[str]]:
    """(name, note, tags) a run has now (empty when it has none)."""
    labels = getattr(record, "labels", None)
    return (
        getattr(labels, "name", None) or "",
        getattr(labels, "note", None) or "",
        list(getattr(labels, "tags", None) or ()),
    )


def ask_labels(app: App, record: Any, done: Any = None) -> None:
    """Open the labels dialog for `record`; `done(labels)` runs after a save."""

    def saved(labels: Any) -> None:
        if labels is not None:
            name = getattr(labels, "name", "") or record.run_id
            app.notify(f"Saved the labels of {name}.", timeout=3, markup=False)
            if done is not None:
                done(labels)

    app.push_screen(LabelsScreen(record.run_id, *current_labels(record)), saved)


class LabelsScreen(ModalScreen[Any]):
    """Name, note and tags of run `run_id`, written through the engine's run store."""

    DEFAULT_CSS = """
    LabelsScreen { align: center middle; }
    LabelsScreen > #labels-dialog {
        grid-size: 1 6;
        grid-rows: auto auto auto auto auto 3;
        grid-gutter: 0 0;
        padding: 1 2;
        width: 76;
        max-width: 98%;
        height: auto;
        border: thick $accent 80%;
        background: $surface;
    }
    LabelsScreen #labels-title { text-style: bold; width: 100%; padding-bottom: 1; }
    LabelsScreen .labels-row { height: 1; margin-bottom: 1; }
    LabelsScreen .labels-row Label { width: 8; }
    LabelsScreen .labels-row Input { width: 1fr; }
    LabelsScreen #labels-status { color: $text-muted; width: 100%; height: auto; }
    LabelsScreen #labels-status.-bad { color: $error; }
    LabelsScreen #labels-buttons { width: 100%; height: 3; align-horizontal: right; }
    LabelsScreen #labels-buttons Button { margin-left: 2; }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "save", "Save", priority=True),
    ]

    class Saved(WorkerAnswer):
        """The store wrote the labels (as it read them back)."""

        def __init__(self, labels: Any) -> None:
            super().__init__()
            self.labels = labels

    class Refused(WorkerAnswer):
        """Why the store would not write them."""

        def __init__(self, message: str) -> None:
            super().__init__()
            self.message = message

    def __init__(self, run_id: str, name: str = "", note: str = "", tags: Any = ()) -> None:
        super().__init__()
        self.run_id, self.name_text, self.note_text = run_id, name, note
        self.tags_text = ", ".join(tags)
        self._sending = False

    def compose(self) -> ComposeResult:
        with Grid(id="labels-dialog"):
            yield Label(Text(f"Labels of {self.run_id}"), id="labels-title")
            with Horizontal(classes="labels-row"):
                yield Label("name")
                yield Input(self.name_text, id="labels-name", compact=True,
                            placeholder="a short handle, unique in this runs folder")  # fmt: skip
            with Horizontal(classes="labels-row"):
                yield Label("note")
                yield Input(self.note_text, id="labels-note", compact=True,
                            placeholder="what this run tried, what it showed")  # fmt: skip
            with Horizontal(classes="labels-row"):
                yield Label("tags")
                yield Input(self.tags_text, id="labels-tags", compact=True,
                            placeholder="comma or space separated")  # fmt: skip
            yield Static("enter / ctrl+s saves · esc cancels · / on Runs searches them",
                         id="labels-status")  # fmt: skip
            with Horizontal(id="labels-buttons"):
                yield Button("Cancel (esc)", id="labels-cancel")
                yield Button("Save (ctrl+s)", id="labels-save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#labels-name", Input).focus()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#labels-save")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#labels-cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        if self._sending:
            return
        self._sending = True
        name = self.query_one("#labels-name", Input).value.strip()
        note = self.query_one("#labels-note", Input).value.strip()
        tags = parse_tags(self.query_one("#labels-tags", Input).value)
        self._show("saving…", bad=False)
        self._write(name, note, tags)

    @work(thread=True, exclusive=True, group="labels-write")
    def _write(self, name: str, note: str, tags: list[str]) -> None:
        self.app.engine.wait()
        from engine.runs.labels import make_labels

        try:
            labels = self.app.store.set_labels(self.run_id, make_labels(name, note, tags))
        except (ValueError, OSError) as exc:  # the store explains a bad or taken name
            self.post_message(self.Refused(str(exc)))
            return
        except Exception as exc:  # never a traceback on screen
            self.post_message(self.Refused(f"Could not save the labels: {exc}"))
            return
        self.post_message(self.Saved(labels))

    @on(Saved)
    def _saved(self, answer: Saved) -> None:
        self.dismiss(answer.labels)

    @on(Refused)
    def _refused(self, answer: Refused) -> None:
        self._sending = False
        self._show(answer.message, bad=True)
        self.query_one("#labels-name", Input).focus()

    def _show(self, message: str, *, bad: bool) -> None:
        status = self.query_one("#labels-status", Static)
        status.update(Text(message))
        status.set_class(bad, "-bad")
