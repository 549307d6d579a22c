"""Runs: every run in the run store, as a sortable, filterable table.

The table is read from disk (the engine's `RunStore`), never from the dashboard's memory, so
runs started by the CLI, another dashboard or a crashed process all show. A cheap
fingerprint of the runs folder is polled while the screen is visible; the store is re-read
in a worker thread only when it changed (or when the app says `RunsChanged`).

`w` compares the highlighted run's sweep (grouped by setting); `x` writes the lab report
of the marked runs — or, with none marked, of the highlighted run's sweep (or that run);
`r` resumes the highlighted run (an interrupted or cancelled one: how many epochs to add,
then the background engine queues it).

What tells runs apart is always shown: the config fields that differ between the listed
runs become columns (`run_columns`; the fields they share are one line above the table),
and the room a wide terminal has goes to more columns. `s` sorts by any column or final
metric (the sort is named in the count line). A sweep is one group row (`run_groups`):
enter opens or closes it, space marks all its runs; the palette finds sweeps by name.
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
from cnnlab_tui.screens.labels_dialog import ask_labels
from cnnlab_tui.screens.resume_dialog import ask_resume
from cnnlab_tui.screens.run_columns import fit_columns, sort_order
from cnnlab_tui.screens.run_commands import RevealSweep, RunCommands
from cnnlab_tui.screens.run_groups import group_key, group_rows, is_group, sweep_of
from cnnlab_tui.screens.run_rows import (
    FORMATTERS,
    header,
    matches_filter,
    metric_keys,
    run_row,
)
from cnnlab_tui.widgets.mode_bar import ModeBar
from cnnlab_tui.widgets.runs_table import RunsTable
from cnnlab_tui.widgets.tables import format_value

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
        Binding("r", "resume", "Resume", show=False),  # named in the info line when it applies
        Binding("w", "compare_sweep", "Sweep", show=False),  # named in the info line
        Binding("x", "export", "Report"),
        Binding("n", "labels", "Name"),
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
        self.expanded: set[str] = set()  # sweep ids whose runs are shown under their group
        self.differing: list[str] = []  # config keys that differ between the listed runs
        self._fingerprint: tuple | None = None

    def compose(self) -> ComposeResult:
        yield ModeBar("runs")
        with Horizontal(id="runs-bar"):
            yield Input(placeholder="filter: words or column:word (status:failed)", id="filter")
            yield Static("reading the runs folder…", id="runs-count")
        yield Static("", id="runs-common")
        yield RunsTable([], formatters=FORMATTERS, id="runs-table")
        yield Static("", id="run-info")
        # The mode bar names ^p; the footer's 80 columns are for this screen's keys.
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self._timer = self.set_interval(POLL_SECONDS, self._poll)
        self.table.focus()
        self.reload()

    # -- keeping up with the disk -----------------------------------------------------------
    @property
    def table(self) -> RunsTable:
        return self.query_one("#runs-table", RunsTable)

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

    def _sweep_of(self, run_id: str) -> str | None:
        membership = self.memberships.get(run_id)
        return membership[0] if membership else None

    def _refresh_table(self) -> None:
        from engine.runs.differing import split_fields

        query = self.query_one("#filter", Input).value
        handles = self._handles()
        rows = {}
        for run_id, record in self.records.items():
            row = run_row(record, handle=handles.get(run_id))
            sweep = self._sweep_of(run_id) or ""
            if matches_filter(row, query) or (query and query.lower() in sweep.lower()):
                rows[run_id] = row
        listed = [self.records[run_id].config or {} for run_id in rows]
        self.differing, common = split_fields(listed)
        for run_id in rows:  # again, now that the differing fields are known
            row = run_row(self.records[run_id], self.differing, handles.get(run_id))
            row["mark"] = run_id in self.marked
            rows[run_id] = row
        sweeps = {run_id: self._sweep_of(run_id) for run_id in rows}
        shown = group_rows(rows, sweeps, self.expanded)
        table = self.table
        width = table.size.width or self.size.width or 80
        columns = fit_columns(
            self.differing, table.sort_column, list(shown.values()), table.cell, width
        )
        table.show(shown, columns)
        self._show_common(common, len(rows))
        self._show_count(len(rows))
        self._show_info()

    def _handles(self) -> dict[str, str]:
        """run id → what the handle column calls it: the engine's short handles (the run's
        name, else the shortest form of its id that no other run shares)."""
        from engine.runs.store import short_handles

        return short_handles(list(self.records.values()))

    def _show_common(self, common: dict[str, Any], listed: int) -> None:
        """One line with the config fields every listed run shares (the table shows the rest)."""
        from engine.runs.differing import PREFERRED_ORDER, short_name

        line = self.query_one("#runs-common", Static)
        if listed < 2:
            line.update("")
            return
        keys = [k for k in PREFERRED_ORDER if k in common]
        keys += [k for k in common if k not in keys]
        parts = [
            f"{short_name(k)} {format_value(common[k])}"
            for k in keys
            if common[k] not in (None, "", [], {})
        ]
        line.update(Text("all: " + " · ".join(parts), style="dim") if parts else "")

    def _show_count(self, listed: int) -> None:
        where = Path(self.app.runs_dir)
        total = len(self.records)
        if not total:
            count = f"no runs in {where} yet — F1 starts one"
        elif listed == total:
            count = f"{total} runs"
        else:
            count = f"{listed} of {total} runs"
        if self.marked:
            count += f", {len(self.marked)} marked"
        table = self.table
        if table.sort_column:
            count += f" · by {header(table.sort_column)} {'↓' if table.sort_reverse else '↑'}"
        self.query_one("#runs-count", Static).update(count)

    def on_resize(self) -> None:
        if self.records:
            self.call_after_refresh(self._refresh_table)  # columns follow the width

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
        selected = self.table.selected_id or ""
        record = self.records.get(selected)
        info = self.query_one("#run-info", Static)
        if is_group(selected):
            state = "close" if sweep_of(selected) in self.expanded else "open"
            text = (
                f"sweep {sweep_of(selected)} · enter: {state} · space: mark its runs · w: compare"
            )
            info.update(Text(text, style="dim"))
        elif record is None:
            info.update("")
        elif record.damaged:
            info.update(Text(f"{record.run_id}: damaged — {record.damaged}", style="red"))
        elif record.summary.get("error"):
            info.update(Text(f"{record.status}: {record.summary['error']}", style="red"))
        else:
            membership = self.memberships.get(record.run_id)
            sweep = f"w: sweep {membership[0]} · " if membership else ""
            resume = "r: resume · " if record.status in ("interrupted", "cancelled") else ""
            info.update(Text(f"enter: details · {resume}{sweep}{record.path}", style="dim"))

    # -- actions ----------------------------------------------------------------------------
    def _selected(self) -> Any | None:
        selected = self.table.selected_id or ""
        record = self.records.get(selected)
        if is_group(selected):
            self.notify("That row is a sweep: enter opens it to its runs.", severity="warning")
        elif record is None:
            self.notify("No run selected.", severity="warning")
        return record

    def _members(self, sweep_id: str) -> list[str]:
        return [run_id for run_id in self.records if self._sweep_of(run_id) == sweep_id]

    @on(DataTable.RowSelected, "#runs-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        selected = self.table.selected_id or ""
        if is_group(selected):
            self.toggle_group(sweep_of(selected))
            return
        record = self._selected()
        if record is not None:
            self.app.open_detail(record.run_id)

    def toggle_group(self, sweep_id: str, expand: bool | None = None) -> None:
        """Open (show its runs) or close the group row of sweep `sweep_id`."""
        if expand is None:
            expand = sweep_id not in self.expanded
        if expand:
            self.expanded.add(sweep_id)
        else:
            self.expanded.discard(sweep_id)
        self._refresh_table()

    def on_reveal_sweep(self, message: RevealSweep) -> None:
        """The palette's "Show sweep …": open its group and put the cursor on it."""
        self.query_one("#filter", Input).value = ""
        self.toggle_group(message.sweep_id, expand=True)
        key = group_key(message.sweep_id)
        if key in self.table.row_ids:
            self.table.move_cursor(row=self.table.get_row_index(key))
        else:
            self.notify(f"No sweep {message.sweep_id} in the runs folder.", severity="warning")
        self.table.focus()

    def action_mark(self) -> None:
        selected = self.table.selected_id or ""
        if is_group(selected):
            members = self._members(sweep_of(selected))
            if all(run_id in self.marked for run_id in members):
                self.marked = [run_id for run_id in self.marked if run_id not in members]
            else:
                self.marked += [run_id for run_id in members if run_id not in self.marked]
            self._refresh_table()
            return
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
        selected = self.table.selected_id or ""
        if is_group(selected):
            self.app.open_compare([sweep_of(selected)])
            return
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
        selected = self.table.selected_id or ""
        if is_group(selected):
            export_report(self.app, [sweep_of(selected)], f"sweep {sweep_of(selected)}")
            return
        record = self._selected()
        if record is None:
            return
        membership = self.memberships.get(record.run_id)
        if membership is not None:
            export_report(self.app, [membership[0]], f"sweep {membership[0]}")
        else:
            export_report(self.app, [record.run_id], f"run {record.run_id}")

    def action_labels(self) -> None:
        """Name, note and tags of the highlighted run (stored in its folder)."""
        record = self._selected()
        if record is None:
            return
        if record.damaged:
            self.notify(f"{record.run_id} is damaged; its labels cannot be written.",
                        severity="error")  # fmt: skip
            return

        def saved(_labels: Any) -> None:
            self.app.post_message(RunsChanged(record.run_id, record.status))
            self.reload()

        ask_labels(self.app, record, saved)

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

    @property
    def sortable(self) -> list[str]:
        """What `s` cycles through: every column that can be shown, then each final metric."""
        return sort_order(self.differing, metric_keys(self.table.rows_raw))

    def action_sort(self) -> None:
        """Sort by the next column or metric (keyboard twin of clicking a header)."""
        table = self.table
        keys = self.sortable
        if not keys:
            return
        current = table.sort_column
        index = keys.index(current) + 1 if current in keys else 0
        table.sort_by(keys[index % len(keys)], reverse=table.sort_reverse)
        self._refresh_table()  # a metric sorted by gets its column
        self._announce_sort()

    def action_reverse(self) -> None:
        table = self.table
        table.sort_by(table.sort_column or "started", reverse=not table.sort_reverse)
        self._show_count(len([k for k in table.row_ids if k in self.records]))
        self._announce_sort()

    def _announce_sort(self) -> None:
        table = self.table
        direction = "descending" if table.sort_reverse else "ascending"
        column = header(table.sort_column or "")
        self.notify(f"Sorted by {column} ({direction}; s: next, R reverses)", timeout=2)

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_focus_table(self) -> None:
        self.table.focus()
