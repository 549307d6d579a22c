"""Resume a run from the dashboard: how many epochs to add, then the engine queues it.

`r` on Runs, `r` on Run detail and the palette's "Resume run …" all open `ResumeScreen`
(`ask_resume`). It submits the resume to the background engine from a thread worker: the
engine checks it (the run's checkpoint, the epochs) and the dialog shows a refusal under
the field, or closes with the queued entry. The run continues from its last checkpoint
exactly as an uninterrupted run would have (the trainer's resume). The dialog reads that
checkpoint's epoch in a thread: a run killed between an epoch's metrics row and its
checkpoint has one more row than it can resume from, and that epoch trains again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from cnnlab_tui.messages import WorkerAnswer

NOT_RESUMABLE = {"running": "it is still training", "damaged": "its files are damaged"}


def resume_plan(record: Any) -> tuple[int, int]:
    """(epochs done, epochs to add by default) of a run record: the rest of its plan, or
    as many again when it finished its plan."""
    summary = record.summary or {}
    done = summary.get("epochs_completed")
    done = done if isinstance(done, int) else len(record.metrics)
    planned = summary.get("epochs") or (record.config or {}).get("epochs") or done
    planned = planned if isinstance(planned, int) else done
    return done, planned - done if planned > done else max(planned, 1)


def ask_resume(app: App, record: Any) -> None:
    """Open the resume dialog for `record` (or say why it cannot be resumed)."""
    why = NOT_RESUMABLE.get(record.status)
    if why:
        app.notify(f"{record.run_id} cannot be resumed: {why}.", severity="warning")
        return
    done, add = resume_plan(record)

    def queued(view: dict[str, Any] | None) -> None:
        if view:
            app.notify(f"Queued {view.get('label') or 'the resume'} ({view.get('queue_id')})",
                       timeout=4, markup=False)  # fmt: skip

    app.push_screen(ResumeScreen(record.run_id, done, add, record.path), queued)


class ResumeScreen(ModalScreen[dict | None]):
    """Ask how many epochs to add to run `run_id` (`done` so far); queue the resume."""

    DEFAULT_CSS = """
    ResumeScreen { align: center middle; }
    ResumeScreen > #resume-dialog {
        grid-size: 1 4;
        grid-rows: auto auto auto 3;
        grid-gutter: 1 0;
        padding: 1 2;
        width: 72;
        max-width: 98%;
        height: auto;
        border: thick $accent 80%;
        background: $surface;
    }
    ResumeScreen #resume-title { text-style: bold; width: 100%; }
    ResumeScreen #resume-row { height: auto; }
    ResumeScreen #resume-row Label { width: 16; padding: 0 1 0 0; }
    ResumeScreen #resume-epochs { width: 12; }
    ResumeScreen #resume-status { color: $text-muted; width: 100%; height: auto; }
    ResumeScreen #resume-status.-bad { color: $error; }
    ResumeScreen #resume-buttons { width: 100%; height: 3; align-horizontal: right; }
    ResumeScreen #resume-buttons Button { margin-left: 2; }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    class Queued(WorkerAnswer):
        """The engine queued the resume (its entry's view)."""

        def __init__(self, view: dict[str, Any]) -> None:
            super().__init__()
            self.view = view

    class Refused(WorkerAnswer):
        """Why the engine would not queue it."""

        def __init__(self, message: str) -> None:
            super().__init__()
            self.message = message

    class Checkpointed(WorkerAnswer):
        """The epochs the run's checkpoint holds (None: `problem` says why it has none)."""

        def __init__(self, epochs: int | None, problem: str = "") -> None:
            super().__init__()
            self.epochs, self.problem = epochs, problem

    def __init__(self, run_id: str, done: int, add: int, run_dir: Path | None = None) -> None:
        super().__init__()
        self.run_id, self.done, self.add, self.run_dir = run_id, done, add, run_dir
        self._sending = False
        self._checked = run_dir is None  # until the checkpoint is read, `done` is the summary's
        self._recorded = done  # epochs the run folder records

    def compose(self) -> ComposeResult:
        with Grid(id="resume-dialog"):
            yield Label(Text(f"Resume {self.run_id}"), id="resume-title")
            with Horizontal(id="resume-row"):
                yield Label("Epochs to add")
                yield Input(str(self.add), id="resume-epochs", type="integer", compact=True)
            yield Static(self._plan(self.add), id="resume-status")
            with Horizontal(id="resume-buttons"):
                yield Button("Cancel (esc)", id="resume-cancel")
                yield Button("Queue resume (enter)", id="resume-go", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#resume-epochs", Input).focus()
        if self.run_dir is not None:
            self._read_checkpoint(self.run_dir)

    def _plan(self, add: int | None) -> str:
        if add is None or add < 1:
            return f"{self.done} epoch(s) done; add one or more."
        unsaved = self._recorded - self.done
        again = (
            f" Its last {unsaved} recorded epoch(s) ended without a checkpoint (the engine"
            " stopped in between) and train again."
            if unsaved > 0
            else ""
        )
        return (
            f"{self.done} epoch(s) done → trains epochs {self.done + 1}–{self.done + add} "
            f"from its last checkpoint, in the background engine.{again}"
        )

    @work(thread=True, group="resume-checkpoint")
    def _read_checkpoint(self, run_dir: Path) -> None:
        from engine.errors import CnnlabError
        from engine.trainer.checkpoint import LAST, checkpoint_facts

        try:
            epochs, _world = checkpoint_facts(run_dir / LAST)
        except CnnlabError as exc:
            self.post_message(self.Checkpointed(None, str(exc)))
        else:
            self.post_message(self.Checkpointed(epochs))

    @on(Checkpointed)
    def _checkpointed(self, answer: Checkpointed) -> None:
        self._checked = True
        if answer.epochs is None:
            self._sending = False
            self._say(f"Cannot resume — {answer.problem}", bad=True)
            return
        self.done = answer.epochs
        if self._sending:  # enter was pressed before the checkpoint was read
            self._submit(self.done + (self._epochs_to_add() or 1))
        else:
            self._typed()

    def _epochs_to_add(self) -> int | None:
        text = self.query_one("#resume-epochs", Input).value.strip()
        return int(text) if text.isdigit() else None

    def _say(self, text: str, *, bad: bool = False) -> None:
        status = self.query_one("#resume-status", Static)
        status.update(Text(text))
        status.set_class(bad, "-bad")

    @on(Input.Changed, "#resume-epochs")
    def _typed(self) -> None:
        add = self._epochs_to_add()
        self._say(self._plan(add), bad=add is None or add < 1)

    @on(Input.Submitted, "#resume-epochs")
    @on(Button.Pressed, "#resume-go")
    def _go(self) -> None:
        add = self._epochs_to_add()
        if add is None or add < 1:
            self._say("Epochs to add: a whole number ≥ 1.", bad=True)
            return
        if not self._sending:
            self._sending = True
            self._say("Sending it to the engine…")
            if self._checked:
                self._submit(self.done + add)

    @on(Button.Pressed, "#resume-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    @work(thread=True, group="resume")
    def _submit(self, epochs: int) -> None:
        from engine.errors import CnnlabError, ConfigError

        try:
            view = self.app.runner.submit_resume(self.run_id, epochs)
        except ConfigError as exc:
            self.post_message(self.Refused("; ".join(f"{k}: {v}" for k, v in exc.errors.items())))
        except CnnlabError as exc:
            self.post_message(self.Refused(str(exc)))
        else:
            self.post_message(self.Queued(view))

    @on(Queued)
    def _queued(self, answer: Queued) -> None:
        self.dismiss(answer.view)

    @on(Refused)
    def _refused(self, answer: Refused) -> None:
        self._sending = False
        self._say(f"Not queued — {answer.message}", bad=True)
