"""Export the lab report (report.md + PNG charts) from Runs or Compare.

`x` opens a small dialog: the report's language (English or Chinese, remembered for the
session) and its folder (default `reports/<timestamp>/` beside the runs folder, never in it:
`engine.report.location`). The engine writes the
report (`engine.sweeps.resolve_targets` + `engine.report.write_report`) in a thread worker
— matplotlib takes seconds — and a notification names the file written.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet

log = logging.getLogger(__name__)

LANGUAGES: tuple[tuple[str, str], ...] = (("en", "English"), ("zh", "中文 (Chinese)"))


def default_out_dir(runs_dir: Path | str, now: datetime | None = None) -> Path:
    """A new folder per report beside the runs folder (see `engine.report.location`)."""
    from engine.report.location import default_report_dir

    return default_report_dir(runs_dir, now)


def report_command(refs: Sequence[str], out_dir: Path, lang: str, runs_dir: Path) -> str:
    """The `cnnlab report` line that writes the same report (shown under "How to reproduce")."""
    words = ["cnnlab", "report", *refs, "--out", str(out_dir)]
    if lang != "en":
        words += ["--lang", lang]
    return shlex.join([*words, "--runs-dir", str(runs_dir)])


def write_lab_report(runs_dir: Path, refs: Sequence[str], out_dir: Path, lang: str) -> Path:
    """Resolve `refs` (sweep ids, run ids) in the run store and write the report; returns
    report.md's path. Engine errors (CnnlabError) propagate with their message."""
    from engine.report import write_report
    from engine.runs import RunStore
    from engine.sweeps import resolve_targets

    records = resolve_targets(RunStore(runs_dir), list(refs))
    command = report_command(refs, out_dir, lang, runs_dir)
    return write_report(records, out_dir, lang, report_command=command)


class ExportScreen(ModalScreen[tuple[str, Path] | None]):
    """Ask for the report's language and folder; dismiss with (lang, folder) or None."""

    DEFAULT_CSS = """
    ExportScreen { align: center middle; }
    ExportScreen > #export-dialog {
        width: 76; max-width: 95%; height: auto; padding: 1 2;
        border: thick $accent 80%; background: $surface;
    }
    ExportScreen #export-title { text-style: bold; }
    ExportScreen #export-what { color: $text-muted; margin-bottom: 1; }
    ExportScreen #export-lang { width: 100%; height: auto; margin-bottom: 1; }
    ExportScreen #export-folder { width: 100%; margin-bottom: 1; }
    ExportScreen #export-buttons { height: 3; align-horizontal: right; }
    ExportScreen #export-buttons Button { margin-left: 2; }
    """

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("ctrl+s", "write", "Write", priority=True),
    ]

    def __init__(self, what: str, out_dir: Path, lang: str = "en") -> None:
        super().__init__()
        self.what = what
        self.out_dir = Path(out_dir)
        self.lang = lang if lang in dict(LANGUAGES) else "en"

    def compose(self) -> ComposeResult:
        with Vertical(id="export-dialog"):
            yield Label("Write the lab report (report.md + PNG charts)", id="export-title")
            yield Label(self.what, id="export-what", markup=False)
            with RadioSet(id="export-lang"):
                for code, name in LANGUAGES:
                    yield RadioButton(name, value=code == self.lang, id=f"lang-{code}")
            yield Label("Folder")
            yield Input(str(self.out_dir), id="export-folder")
            with Horizontal(id="export-buttons"):
                yield Button("Cancel (esc)", id="export-cancel")
                yield Button("Write (ctrl+s)", variant="primary", id="export-write")

    def on_mount(self) -> None:
        self.query_one("#export-lang", RadioSet).focus()

    @property
    def chosen_lang(self) -> str:
        pressed = self.query_one("#export-lang", RadioSet).pressed_button
        return (pressed.id or "lang-en").removeprefix("lang-") if pressed else self.lang

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "export-write":
            self.action_write()
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_write()

    def action_write(self) -> None:
        folder = self.query_one("#export-folder", Input).value.strip()
        if not folder:
            self.notify("Name a folder for the report.", severity="warning")
            return
        self.dismiss((self.chosen_lang, Path(folder).expanduser()))


def export_report(app: App, refs: Sequence[str], what: str) -> None:
    """Ask for language and folder, then write the report of `refs` in a thread worker.

    `refs` are sweep ids and run ids (as `cnnlab report` takes them); `what` tells the
    person what is being reported on. The language choice is remembered on the app.
    """
    runs_dir = Path(app.runs_dir)
    lang = getattr(app, "report_lang", "en")

    def answered(answer: tuple[str, Path] | None) -> None:
        if not answer:
            return
        chosen_lang, out_dir = answer
        app.report_lang = chosen_lang
        app.notify(f"Writing the report ({chosen_lang}) to {out_dir}…", timeout=4, markup=False)
        app.run_worker(
            partial(_write_in_worker, app, runs_dir, list(refs), out_dir, chosen_lang),
            name="lab report",
            group="report",
            thread=True,
            exit_on_error=False,
        )

    app.push_screen(ExportScreen(what, default_out_dir(runs_dir), lang), answered)


def _write_in_worker(app: Any, runs_dir: Path, refs: list[str], out_dir: Path, lang: str) -> None:
    from engine.errors import CnnlabError

    try:
        path = write_lab_report(runs_dir, refs, out_dir, lang)
    except (CnnlabError, OSError) as exc:
        _notify(app, f"Report not written: {exc}", severity="error", timeout=10)
        return
    except Exception as exc:  # a report bug must not take the dashboard down
        log.exception("writing the report to %s failed", out_dir)
        _notify(app, f"Report not written (unexpected error): {exc}", severity="error")
        return
    _notify(app, f"Report written:\n{path}", title="Lab report", timeout=15, path=path)


def _notify(app: Any, message: str, *, path: Path | None = None, **kwargs: Any) -> None:
    """From the worker: tell the person (and record `app.last_report`) on the UI thread."""

    def on_ui() -> None:
        if path is not None:
            app.last_report = path
        app.notify(message, markup=False, **kwargs)

    try:
        app.call_from_thread(on_ui)
    except RuntimeError:  # the app closed while the report was being drawn
        log.info("%s", message)
