"""Runs: every run in the run store, as a sortable, filterable table.

The table is read from disk (the engine's `RunStore`), never from the dashboard's memory, so
runs started by the CLI, another dashboard or a crashed process all show. A cheap
fingerprint of the runs folder is polled while the screen is visible; the store is re-read
in a worker thread only when it changed (or when the app says `RunsChanged`).

`w` compares the highlighted run's sweep (grouped by setting); `x` writes the lab report
of the marked runs — or, with none marked, of the highlighted run's sweep (or that run);
`r` resumes the highlighted run (an interrupted or cancelled one: how many epochs to add,
then the background engine queues it).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from cnnlab_tui.messages import RunsChanged, WorkerAnswer
from cnnlab_tui.screens.confirm import ConfirmScreen
from cnnlab_tui.screens.export import export_report
from cnnlab_tui.screens.folder_stamps import folder_fingerprint
from cnnlab_tui.screens.resume_dialog import ask_resume
from cnnlab_tui.screens.run_commands import RunCommands
from cnnlab_tui.screens.run_rows import COLUMNS, FORMATTERS, SORTABLE, matches_filter, run_row
from cnnlab_tui.widgets.mode_bar import ModeBar
from cnnlab_tui.widgets.tables import SortableTable

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0


class RunsScreen(Screen):
    """The run store as a table: open, compare, delete, re-run."""

    TITLE = "Runs"
    CSS_PATH = "../styles/runs.tcss"
    COMMANDS = {RunCommands}
    BINDINGS = [
        Binding("enter", "open", "Open"),
        Binding("space", "mark", "Mark"),
        Binding("c", "compare", "Compare"),
        Binding("e", "rerun", "Re-run"),
        Binding("r", "resume", "Resume"),
        Binding("w", "compare_sweep", "Sweep", show=False),  # named in the info line
        Binding("x", "export", "Report"),
        Binding("d,delete", "delete", "Delete"),
        Binding("s", "sort", "Sort"),
        Binding("R", "reverse", "Reverse", show=False),  # announced by the sort notice
        Binding("slash", "focus_filter", "Filter"),
        Binding("escape", "focus_table", "Table", show=False),
    ]

    class Loaded(WorkerAnswer):
        """The run store as read: records, each run's sweep membership, the folder stamp."""

        def __init__(
            self, records: list[Any], memberships: dict[str, Any], fingerprint: tuple
        ) -> None:
            super().__init__()
            self.records, self.memberships, self.fingerprint = records, memberships, fingerprint

    class Unreadable(WorkerAnswer):
        """The runs folder itself cannot be read."""

        def __init__(self, message: str) -> None:
            super().__init__()
            self.message = message

    class Deleted(WorkerAnswer):
        """Run `run_id` was deleted, or (`error`) why not."""

        def __init__(self, run_id: str, error: str | None = None) -> None:
            super().__init__()
            self.run_id, self.error = run_id, error

    def __init__(self) -> None:
        super().__init__()
        self.records: dict[str, Any] = {}
        self.memberships: dict[str, Any] = {}  # run id → (sweep id, point) or None
        self.marked: list[str] = []
        self._fingerprint: tuple | None = None

    def compose(self) -> ComposeResult:
        yield ModeBar("runs")
        with Horizontal(id="runs-bar"):
            yield Input(placeholder="filter: words or column:word (status:failed)", id="filter")
            yield Static("reading the runs folder…", id="runs-count")
        yield SortableTable(COLUMNS, formatters=FORMATTERS, id="runs-table")
        yield Static("", id="run-info")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._timer = self.set_interval(POLL_SECONDS, self._poll)
        self.query_one(SortableTable).focus()
        self.reload()

    # -- keeping up with the disk -----------------------------------------------------------
    @property
    def table(self) -> SortableTable:
        return self.query_one("#runs-table", SortableTable)

    def on_screen_suspend(self) -> None:
        self._timer.pause()

    def on_screen_resume(self) -> None:
        self._timer.resume()
        self._poll()

    def on_runs_changed(self, message: RunsChanged) -> None:
        self.reload()

    def _poll(self) -> None:
        self._load_runs(only_if_changed=True)

    def reload(self) -> None:
        """Re-read the run store in a worker thread; the table updates when it is done."""
        self._load_runs()

    @work(thread=True, exclusive=True, group="runs-load")
    def _load_runs(self, only_if_changed: bool = False) -> None:
        # Even the cheap fingerprint (a few stats per run) stays off the UI thread.
        root = Path(self.app.runs_dir)
        fingerprint = folder_fingerprint(root)
        if only_if_changed and fingerprint == self._fingerprint:
            return
        self.app.engine.wait()
        from engine.sweeps import read_membership

        try:
            records = self.app.store.list_runs()
        except Exception as exc:  # the store never raises for folders; guard the root itself
            log.exception("cannot list runs in %s", root)
            self.post_message(self.Unreadable(f"Cannot read {root}: {exc}"))
            return
        memberships = {record.run_id: read_membership(record) for record in records}
        self.post_message(self.Loaded(records, memberships, fingerprint))

    @on(Unreadable)
    def _unreadable(self, answer: Unreadable) -> None:
        self.notify(answer.message, severity="error")

    @on(Loaded)
    def _show_records(self, answer: Loaded) -> None:
        # Shown even when a newer read has started: on a slow disk every poll would
        # otherwise cancel the read before it (a stale table is fixed by the next poll).
        self._fingerprint = answer.fingerprint
        self.records = {r.run_id: r for r in answer.records}
        self.memberships = answer.memberships
        self.marked = [run_id for run_id in self.marked if run_id in self.records]
        self._refresh_table()

    def _refresh_table(self) -> None:
        query = self.query_one("#filter", Input).value
        rows = {}
        for run_id, record in self.records.items():
            row = run_row(record)
            if matches_filter(row, query):
                row["mark"] = run_id in self.marked
                rows[run_id] = row
        self.table.set_rows(rows)
        where = Path(self.app.runs_dir)
        total = len(self.records)
        if not total:
            count = f"no runs in {where} yet — F1 starts one"
        elif len(rows) == total:
            count = f"{total} runs"
        else:
            count = f"{len(rows)} of {total} runs"
        if self.marked:
            count += f", {len(self.marked)} marked"
        self.query_one("#runs-count", Static).update(count)
        self._show_info()

    @on(Input.Changed, "#filter")
    def _filter_changed(self) -> None:
        self._refresh_table()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        self.action_focus_table()

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._show_info()

    def _show_info(self) -> None:
        """One line about the highlighted run: its problem, error, or where it lives."""
        record = self.records.get(self.table.selected_id or "")
        info = self.query_one("#run-info", Static)
        if record is None:
            info.update("")
        elif record.damaged:
            info.update(Text(f"{record.run_id}: damaged — {record.damaged}", style="red"))
        elif record.summary.get("error"):
            info.update(Text(f"{record.status}: {record.summary['error']}", style="red"))
        else:
            membership = self.memberships.get(record.run_id)
            sweep = f"w: sweep {membership[0]} · " if membership else ""
            info.update(Text(f"enter: details · {sweep}{record.path}", style="dim"))

    # -- actions ----------------------------------------------------------------------------
    def _selected(self) -> Any | None:
        record = self.records.get(self.table.selected_id or "")
        if record is None:
            self.notify("No run selected.", severity="warning")
        return record

    @on(DataTable.RowSelected, "#runs-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        record = self._selected()
        if record is not None:
            self.app.open_detail(record.run_id)

    def action_mark(self) -> None:
        record = self._selected()
        if record is None:
            return
        if record.run_id in self.marked:
            self.marked.remove(record.run_id)
        else:
            self.marked.append(record.run_id)
        self._refresh_table()

    def action_compare(self) -> None:
        ids = [run_id for run_id in self.table.row_ids if run_id in self.marked]
        ids += [run_id for run_id in self.marked if run_id not in ids]  # filtered out, still
        if len(ids) < 2:
            self.notify("Mark two or more runs with space, then press c.", severity="warning")
            return
        self.app.open_compare(ids)

    def action_compare_sweep(self) -> None:
        record = self._selected()
        if record is None:
            return
        membership = self.memberships.get(record.run_id)
        if membership is None:
            self.notify(f"{record.run_id} is not part of a sweep.", severity="warning")
            return
        self.app.open_compare([membership[0]])

    def action_export(self) -> None:
        """The lab report of the marked runs, else of the highlighted run's sweep (or run)."""
        if self.marked:
            export_report(self.app, list(self.marked), f"{len(self.marked)} marked runs")
            return
        record = self._selected()
        if record is None:
            return
        membership = self.memberships.get(record.run_id)
        if membership is not None:
            export_report(self.app, [membership[0]], f"sweep {membership[0]}")
        else:
            export_report(self.app, [record.run_id], f"run {record.run_id}")

    def action_rerun(self) -> None:
        record = self._selected()
        if record is None:
            return
        if not record.config:
            self.notify(f"{record.run_id} has no readable config to re-run.", severity="error")
            return
        self.app.edit_and_rerun(dict(record.config))

    def action_resume(self) -> None:
        """Ask how many epochs to add to the highlighted run, then queue its resume."""
        record = self._selected()
        if record is not None:
            ask_resume(self.app, record)

    def action_delete(self) -> None:
        record = self._selected()
        if record is None:
            return
        if record.status == "running":
            self.notify("That run is still running; cancel it on Live first.", severity="error")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._delete(record.run_id)

        question = f"Delete run {record.run_id} and all its files?\n{record.path}"
        self.app.push_screen(
            ConfirmScreen(question, title="Delete run?", yes_label="Delete"), answered
        )

    @work(thread=True, group="runs-delete")
    def _delete(self, run_id: str) -> None:
        from engine.errors import CnnlabError

        self.app.engine.wait()
        try:
            self.app.store.delete(run_id)
        except (CnnlabError, OSError) as exc:
            self.post_message(self.Deleted(run_id, str(exc)))
            return
        self.post_message(self.Deleted(run_id))

    @on(Deleted)
    def _deleted(self, answer: Deleted) -> None:
        if answer.error:
            self.notify(answer.error, severity="error")
            return
        self.notify(f"Deleted {answer.run_id}", timeout=3)
        self.app.post_message(RunsChanged(answer.run_id, "deleted"))
        self.reload()

    def action_sort(self) -> None:
        """Sort by the next column (keyboard twin of clicking a header)."""
        table = self.table
        current = table.sort_column
        index = 0 if current is None else (SORTABLE.index(current) + 1) % len(SORTABLE)
        table.sort_by(SORTABLE[index], reverse=table.sort_reverse)
        self._announce_sort()

    def action_reverse(self) -> None:
        table = self.table
        table.sort_by(table.sort_column or "started", reverse=not table.sort_reverse)
        self._announce_sort()

    def _announce_sort(self) -> None:
        table = self.table
        direction = "descending" if table.sort_reverse else "ascending"
        column = dict(COLUMNS)[table.sort_column]
        self.notify(f"Sorted by {column} ({direction}; R reverses)", timeout=2)

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_focus_table(self) -> None:
        self.table.focus()
