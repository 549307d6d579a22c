"""Compare: two or more runs side by side — where the lab's comparisons are read.

Overlaid curves of any metric (one colour per run, with a legend), the config fields that
differ, and the final metrics. The rows come from `engine.runs.compare`, the same pure
functions behind `cnnlab compare`, so the CLI and the dashboard never disagree.

There is one Compare: the `compare` mode's screen (F4). `c` on Runs (marked runs) and every
`app.open_compare` put their runs in it (`Show`) and turn to the curves; Esc goes back to
the mode they came from and F4 returns to the same comparison, so nothing is ever thrown
away. Opened with F4 alone it starts on a picker listing every sweep and run in the store.
Picking or unpicking updates everything.

A picked search (Optuna) also fills the Search tab: best trial, objective per trial,
parameter importance (`widgets.search_panel`).

Runs that repeat a setting over seeds (a sweep) are grouped by setting: one mean curve with
a dotted ±std band each, and final metrics as mean ± std (`compare_groups`); `g` switches
between that and one column per run. `x` writes the lab report of what is compared.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import (
    DataTable,
    Footer,
    Label,
    Select,
    SelectionList,
    Static,
    TabbedContent,
    TabPane,
)

from cnnlab_tui.messages import RunsChanged, WorkerAnswer
from cnnlab_tui.screens import compare_groups
from cnnlab_tui.screens.export import export_report
from cnnlab_tui.screens.folder_stamps import folder_fingerprint
from cnnlab_tui.screens.run_commands import RunCommands
from cnnlab_tui.widgets.charts import MetricChart
from cnnlab_tui.widgets.mode_bar import ModeBar
from cnnlab_tui.widgets.search_panel import SearchPanel, picked_search
from cnnlab_tui.widgets.tables import fill_table, status_text

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0
TABS = ["tab-pick", "tab-curves", "tab-diff", "tab-final", "tab-search"]


def picked_text(count: int) -> str:
    """`0 runs picked`, `1 run picked`, `2 runs picked`."""
    return f"{count} run{'' if count == 1 else 's'} picked"


def run_labels(records: list[Any]) -> list[str]:
    """Short column/legend labels, so 80 columns hold four runs: position, then the run's
    handle (its name, `n` on Runs, else the shortest form of its id, as on Runs)."""
    from engine.runs.store import short_handles

    handles = short_handles(list(records))
    return [f"{i + 1}:{handles.get(r.run_id, r.run_id)}" for i, r in enumerate(records)]


class CompareScreen(Screen):
    """Overlaid curves, differing config fields and final metrics of the picked runs."""

    TITLE = "Compare"
    CSS_PATH = "../styles/compare.tcss"
    COMMANDS = {RunCommands}
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+t", "next_tab", "Next tab"),
        Binding("m", "next_metric", "Metric"),
        Binding("p", "pick", "Pick runs"),
        Binding("g", "toggle_grouping", "Group"),
        Binding("x", "export", "Report"),
    ]

    class Loaded(WorkerAnswer):
        """The run store as read (records, their sweeps) and the folder stamp."""

        def __init__(self, records: list[Any], sweeps: dict[str, Any], fingerprint: tuple):
            super().__init__()
            self.records, self.sweeps, self.fingerprint = records, sweeps, fingerprint

    class Unreadable(WorkerAnswer):
        """The runs folder itself cannot be read."""

        def __init__(self, message: str) -> None:
            super().__init__()
            self.message = message

    class Show(Message):
        """Compare `run_ids` now (they replace the picks); Esc returns to mode `came_from`."""

        def __init__(self, run_ids: list[str], came_from: str | None = None) -> None:
            super().__init__()
            self.run_ids, self.came_from = list(run_ids), came_from

    def __init__(self, run_ids: list[str] | None = None) -> None:
        super().__init__()
        self.selected_ids: list[str] = list(run_ids or [])  # run ids and sweep ids
        self.records: dict[str, Any] = {}
        self.sweeps: dict[str, Any] = {}  # sweep id → engine SweepGroup
        self.group_by_setting = True
        self.grouped: compare_groups.GroupedView | None = None
        self.metric: str | None = None
        self._fingerprint: tuple | None = None
        self._started_with_runs = bool(run_ids)
        self.came_from: str | None = None  # the mode `Show` came from: where Esc goes

    def compose(self) -> ComposeResult:
        yield ModeBar("compare")
        yield Static("", id="compare-title")
        with TabbedContent(id="compare-tabs", initial="tab-pick"):
            with TabPane("Pick runs", id="tab-pick"), Vertical():
                yield Label("space toggles a sweep or a run; pick two or more runs", id="pick-help")
                yield SelectionList[str](id="picker")
            with TabPane("Curves", id="tab-curves"), Vertical():
                with Horizontal(id="metric-bar"):
                    yield Label("metric ", id="metric-label")
                    yield Select[str]([], id="metric", allow_blank=True, compact=True)
                yield MetricChart("", "", id="compare-chart")
            with TabPane("Differences", id="tab-diff"):
                yield DataTable(id="diff-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Final metrics", id="tab-final"):
                yield DataTable(id="final-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Search", id="tab-search"):
                yield SearchPanel(Path(self.app.runs_dir), id="search-panel")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        if self._started_with_runs:  # once the tabs are mounted (they may not be yet)
            self.call_after_refresh(self._show_curves_tab)
        self._timer = self.set_interval(POLL_SECONDS, self._poll)
        self._load()

    def on_compare_screen_show(self, message: Show) -> None:
        self.selected_ids = list(dict.fromkeys(message.run_ids))
        self.came_from = message.came_from if message.came_from != "compare" else None
        self.call_after_refresh(self._show_curves_tab)
        if self.records or self.sweeps:
            self._fill_picker()
            self.update_comparison()
        self._load()  # the store may have runs newer than the last read

    def _show_curves_tab(self) -> None:
        self.query_one("#compare-tabs", TabbedContent).active = "tab-curves"

    # -- loading ----------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="compare-load")
    def _load(self, only_if_changed: bool = False) -> None:
        root = Path(self.app.runs_dir)
        fingerprint = folder_fingerprint(root)
        if only_if_changed and fingerprint == self._fingerprint:
            return
        self.app.engine.wait()  # the screen then calls engine.runs.compare on the UI thread
        try:
            records = self.app.store.list_runs()
        except Exception as exc:  # the store is tolerant; this guards an unreadable root
            log.exception("cannot list runs in %s", root)
            self.post_message(self.Unreadable(f"Cannot read {root}: {exc}"))
            return
        sweeps = compare_groups.sweep_groups(records)
        self.post_message(self.Loaded(records, sweeps, fingerprint))

    @on(Unreadable)
    def _unreadable(self, answer: Unreadable) -> None:
        self.notify(answer.message, severity="error")

    def _poll(self) -> None:
        self._load(only_if_changed=True)

    def on_screen_suspend(self) -> None:
        self._timer.pause()

    def on_screen_resume(self) -> None:
        self._timer.resume()
        self._poll()

    def on_runs_changed(self, message: RunsChanged) -> None:
        self._load()

    @on(Loaded)
    def _loaded(self, answer: Loaded) -> None:
        # Shown even when a newer read has started (see RunsScreen._show_records).
        self._fingerprint = answer.fingerprint
        self.records = {r.run_id: r for r in answer.records}
        self.sweeps = answer.sweeps
        known = [i for i in self.selected_ids if i in self.records or i in self.sweeps]
        missing = [i for i in self.selected_ids if i not in known]
        if missing:
            self.notify(f"Not in the run store: {', '.join(missing)}", severity="warning")
        self.selected_ids = known
        self._fill_picker()
        self.update_comparison()

    def _fill_picker(self) -> None:
        picker = self.query_one("#picker", SelectionList)
        highlighted = picker.highlighted
        picker.clear_options()
        options = compare_groups.picker_options(self.sweeps, self.records, self.selected_ids)
        picker.add_options(options)
        if picker.option_count:  # always highlight one, so space works at once
            picker.highlighted = min(highlighted or 0, picker.option_count - 1)

    @on(SelectionList.SelectedChanged, "#picker")
    def _picked(self) -> None:
        chosen = set(self.query_one("#picker", SelectionList).selected)
        if chosen == set(self.selected_ids):
            return
        # Keep the order runs were picked in: it is the order of columns and colours.
        kept = [run_id for run_id in self.selected_ids if run_id in chosen]
        offered = [*self.sweeps, *self.records]
        added = [i for i in offered if i in chosen and i not in kept]
        self.selected_ids = kept + added
        self.update_comparison()

    # -- the comparison ---------------------------------------------------------------------
    @property
    def selected_records(self) -> list[Any]:
        """The picked runs; a picked sweep stands for its runs."""
        run_ids = compare_groups.expand(self.selected_ids, self.sweeps)
        return [self.records[run_id] for run_id in run_ids if run_id in self.records]

    def update_comparison(self) -> None:
        """Redraw the title, metric choices, curves and both tables from the picked runs."""
        if not self.app.engine.ready:  # nothing is loaded yet: the first load redraws
            return
        from engine.runs.compare import differing_fields, final_metrics

        self.query_one(SearchPanel).show(picked_search(self.selected_ids))
        records = self.selected_records
        grouped = compare_groups.grouped_view(records) if self.group_by_setting else None
        self.grouped = grouped
        if grouped is not None:
            self._show_grouped(grouped, records)
            return
        labels = run_labels(records)
        title = self.query_one("#compare-title", Static)
        if len(records) < 2:
            title.update(
                Text(f"{picked_text(len(records))} — pick two or more (p)", style="yellow")
            )
        else:
            title.update(Text("  ".join(labels), style="bold"))
        self._update_metric_choices(records)
        self._draw_curves(records, labels)
        diff = differing_fields(records) if len(records) >= 2 else []
        diff_table = self.query_one("#diff-table", DataTable)
        if len(records) >= 2 and not diff:
            fill_table(diff_table, ["field"], [("(every config field is the same)",)])
        else:
            fill_table(diff_table, ["field", *labels], [(f, *values) for f, values in diff])
        finals = final_metrics(records) if records else []
        final_table = self.query_one("#final-table", DataTable)
        rows = []
        for name, values in finals:
            cells = [status_text(v) if name == "status" else v for v in values]
            rows.append((name, *cells))
        fill_table(final_table, ["metric", *labels], rows)

    def _show_grouped(self, view: compare_groups.GroupedView, records: list[Any]) -> None:
        """Settings instead of runs: mean curves with ±std bands, mean ± std tables."""
        from engine.runs.compare import default_metric

        self.query_one("#compare-title", Static).update(Text(view.title(), style="bold"))
        self._update_metric_choices(records, view.metrics())
        self._draw_curves(records, [])
        fill_table(
            self.query_one("#diff-table", DataTable), ["setting", *view.labels],
            view.setting_rows(),
        )  # fmt: skip
        primary = default_metric(records) if records else None
        fill_table(
            self.query_one("#final-table", DataTable), ["metric (mean ± std)", *view.labels],
            view.final_rows(primary),
        )  # fmt: skip

    def _update_metric_choices(self, records: list[Any], names: list[str] | None = None) -> None:
        from engine.runs.compare import curve_metrics, default_metric

        names = curve_metrics(records) if names is None else names
        if self.metric not in names:
            self.metric = default_metric(records) if records else None
            if names and self.metric not in names:
                self.metric = names[0]
        select = self.query_one("#metric", Select)
        with select.prevent(Select.Changed):
            select.set_options([(name, name) for name in names])
            if self.metric in names:
                select.value = self.metric

    def _draw_curves(self, records: list[Any], labels: list[str]) -> None:
        from engine.runs.compare import metric_series

        chart = self.query_one("#compare-chart", MetricChart)
        metric = self.metric or ""
        if self.grouped is not None:
            means, bands = self.grouped.series(metric)
            chart.set_series(means, title=f"{metric} (mean over seeds)", ylabel=metric, bands=bands)
            return
        series = {label: metric_series(r, metric) for label, r in zip(labels, records, strict=True)}
        chart.set_series(series, title=metric, ylabel=metric)

    @on(Select.Changed, "#metric")
    def _metric_chosen(self, event: Select.Changed) -> None:
        if event.value is not Select.NULL and event.value != self.metric:
            self.metric = str(event.value)
            records = self.selected_records
            self._draw_curves(records, run_labels(records))

    # -- actions ----------------------------------------------------------------------------
    def action_next_metric(self) -> None:
        if not self.app.engine.ready:
            return
        from engine.runs.compare import curve_metrics

        names = self.grouped.metrics() if self.grouped else curve_metrics(self.selected_records)
        if not names:
            return
        index = names.index(self.metric) + 1 if self.metric in names else 0
        self.query_one("#metric", Select).value = names[index % len(names)]
        self.query_one("#compare-tabs", TabbedContent).active = "tab-curves"

    def action_next_tab(self) -> None:
        tabs = self.query_one("#compare-tabs", TabbedContent)
        tabs.active = TABS[(TABS.index(tabs.active) + 1) % len(TABS)]

    def action_pick(self) -> None:
        self.query_one("#compare-tabs", TabbedContent).active = "tab-pick"
        self.query_one("#picker", SelectionList).focus()

    def action_toggle_grouping(self) -> None:
        """Switch between one column per setting (mean ± std) and one per run."""
        self.group_by_setting = not self.group_by_setting
        self.update_comparison()
        if self.group_by_setting and self.grouped is None:
            self.notify("No setting has two runs (seeds) to average.", timeout=3)

    def action_export(self) -> None:
        """Write the lab report (report.md + charts) of the sweeps and runs compared."""
        records = self.selected_records
        if not records:
            self.notify("Pick runs (or a sweep) to report on first.", severity="warning")
            return
        refs = [i for i in self.selected_ids if i in self.sweeps]
        covered = set(compare_groups.expand(refs, self.sweeps))
        refs += [r.run_id for r in records if r.run_id not in covered]
        export_report(self.app, refs, f"{len(records)} runs compared")

    def action_back(self) -> None:
        """Back to the mode the runs came from (Runs, with its marks); the comparison stays
        here for F4. Opened with F4 alone there is nowhere to go back to."""
        if self.came_from and self.came_from in self.app.MODES:
            self.app.switch_mode(self.came_from)
        elif len(self.app.screen_stack) > 1:
            self.app.pop_screen()
