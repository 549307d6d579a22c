"""Run detail: everything one run left on disk, read through the engine's `RunStore`.

Curves, final and best metrics, per-class accuracy and the confusion matrix for
classification; hazy | output | clear samples drawn with half blocks (and their PNG paths)
for dehazing; the Errors tab (misclassified test images with Grad-CAM, `ErrorsPane`), the
Predict tab (a path field, `PredictPane`) and the run's evaluations under Metrics; the
resolved config and the run's log. A running run is re-read whenever its
folder changes, so this screen can follow a run started anywhere.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import (
    DataTable,
    Footer,
    Label,
    Static,
    TabbedContent,
    TabPane,
)

from cnnlab_tui.messages import RunsChanged, WorkerAnswer
from cnnlab_tui.screens.folder_stamps import run_stamp
from cnnlab_tui.screens.resume_dialog import ask_resume
from cnnlab_tui.screens.run_commands import RunCommands
from cnnlab_tui.widgets.charts import MetricChart
from cnnlab_tui.widgets.errors_pane import ErrorsPane
from cnnlab_tui.widgets.evaluations_table import EvaluationsTable
from cnnlab_tui.widgets.image_view import ImageView
from cnnlab_tui.widgets.mode_bar import ModeBar
from cnnlab_tui.widgets.predict_pane import PredictPane
from cnnlab_tui.widgets.tables import (
    confusion_cells,
    fill_table,
    format_duration,
    format_time,
    format_value,
    status_text,
)

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
MAX_SAMPLES = 8
LOG_TAIL_LINES = 200
TABS = ["tab-curves", "tab-metrics", "tab-confusion", "tab-samples", "tab-errors",
        "tab-predict", "tab-config", "tab-log"]  # fmt: skip

# Metrics the summary does not keep but the Metrics tab shows from metrics.jsonl.
EXTRA_METRICS = ("val_balanced_acc", "test_balanced_acc")

# (chart id, title, y label, metric names) — a chart is shown when any metric has data.
CHARTS = [
    ("chart-loss", "loss", "loss", ("train_loss", "val_loss", "test_loss")),
    ("chart-acc", "accuracy", "accuracy", ("train_acc", "val_acc", "test_acc")),
    ("chart-psnr", "PSNR", "dB", ("val_psnr", "test_psnr")),
    ("chart-ssim", "SSIM", "SSIM", ("val_ssim", "test_ssim")),
]


def sample_paths(record: Any, limit: int = MAX_SAMPLES) -> list[Path]:
    """The latest epoch's sample PNGs: the summary's list, else the newest in samples/."""
    listed = [record.path / p for p in record.summary.get("samples") or []]
    if not listed:
        found = sorted((record.path / "samples").glob("*.png"))
        if found:
            latest = found[-1].name.split("_", 1)[0]  # epochNNN
            listed = [p for p in found if p.name.startswith(latest)]
    return listed[:limit]


def read_log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class DetailScreen(Screen):
    """One run: curves, metrics, confusion matrix, samples, config and log."""

    TITLE = "Run detail"
    CSS_PATH = "../styles/detail.tcss"
    COMMANDS = {RunCommands}
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+t", "next_tab", "Next tab"),
        Binding("e", "rerun", "Re-run"),
        Binding("r", "resume", "Resume"),
    ]

    class Loaded(WorkerAnswer):
        """The run as read from disk, its folder stamp and the tail of its log."""

        def __init__(self, record: Any, fingerprint: tuple, log_text: str) -> None:
            super().__init__()
            self.record, self.fingerprint, self.log_text = record, fingerprint, log_text

    class Missing(WorkerAnswer):
        """The run cannot be found (deleted, or a bad id): why, for a person."""

        def __init__(self, message: str) -> None:
            super().__init__()
            self.message = message

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.record: Any = None
        self._fingerprint: tuple | None = None
        self._hidden_tabs: set[str] = set()

    def compose(self) -> ComposeResult:
        yield ModeBar("runs")
        yield Static(Text(f"{self.run_id}: loading…"), id="detail-title")
        with TabbedContent(id="detail-tabs"):
            with TabPane("Curves", id="tab-curves"), Grid(id="charts"):
                for chart_id, title, ylabel, _metrics in CHARTS:
                    yield MetricChart(title, ylabel, id=chart_id)
            with TabPane("Metrics", id="tab-metrics"), Vertical():
                with Horizontal():
                    yield DataTable(id="metrics-table", cursor_type="row", zebra_stripes=True)
                    yield DataTable(id="per-class-table", cursor_type="row", zebra_stripes=True)
                yield EvaluationsTable(self.run_id, id="evaluations-table")
            with TabPane("Confusion", id="tab-confusion"), Vertical():
                yield Label("rows: true class, columns: predicted", id="confusion-note")
                yield DataTable(id="confusion-table", cursor_type="cell")
            with TabPane("Samples", id="tab-samples"):
                yield VerticalScroll(id="samples")
            with TabPane("Errors", id="tab-errors"):
                yield ErrorsPane(self.run_id, id="errors-pane")
            with TabPane("Predict", id="tab-predict"):
                yield PredictPane(self.run_id, id="predict-pane")
            with TabPane("Config", id="tab-config"):
                yield DataTable(id="config-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Log", id="tab-log"), VerticalScroll():
                yield Static(id="log-text")
        yield Footer()

    def on_mount(self) -> None:
        self._timer = self.set_interval(POLL_SECONDS, self._poll)
        self.action_reload()

    # -- loading ------------------------------------------------------------------------------
    def action_reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="detail-load")
    def _load(self) -> None:
        self.app.engine.wait()  # the screen then calls engine.runs.compare on the UI thread
        from engine.errors import CnnlabError

        try:
            record = self.app.store.get(self.run_id)
        except CnnlabError as exc:
            self.post_message(self.Missing(str(exc)))
            return
        fingerprint = run_stamp(record.path)
        log_text = read_log_tail(record.path / "run.log")
        self.post_message(self.Loaded(record, fingerprint, log_text))

    def _poll(self) -> None:
        running = self.record is not None and self.record.status == "running"
        if running and run_stamp(self.record.path) != self._fingerprint:
            self._load()

    def on_runs_changed(self, message: RunsChanged) -> None:
        if message.run_id in (None, self.run_id):
            self._load()

    @on(Missing)
    def _missing(self, answer: Missing) -> None:
        title = Text(f"⚠ {answer.message}", style="bold red")
        self.query_one("#detail-title", Static).update(title)
        if self.record is None:
            self.notify(answer.message, title="Run detail", severity="error")

    @on(Loaded)
    def _loaded(self, answer: Loaded) -> None:
        self._show(answer.record, answer.fingerprint, answer.log_text)

    def _show(self, record: Any, fingerprint: tuple, log_text: str) -> None:
        from engine.runs.compare import flatten_config

        self.record, self._fingerprint = record, fingerprint
        self._show_title(record)
        self._show_curves(record)
        self._show_metrics(record)
        self._show_confusion(record)
        self._show_samples(record)
        config = flatten_config(record.config)
        fill_table(self.query_one("#config-table", DataTable), ["field", "value"],
                   [(key, config[key]) for key in sorted(config)])  # fmt: skip
        self.query_one("#log-text", Static).update(Text(log_text or "(no log)"))
        self.query_one("#evaluations-table", EvaluationsTable).reload()  # `cnnlab evaluate`

    def _show_title(self, record: Any) -> None:
        s = record.summary
        labels = record.labels
        title = Text.assemble(
            (f"{labels.name} · " if labels.name else "", "bold magenta"),
            (record.run_id, "bold"),
            "  ",
            status_text(record.status),
        )
        if labels.tags or labels.note:
            tags = " ".join(f"#{tag}" for tag in labels.tags)
            shown = "  ".join(part for part in (tags, labels.note) if part)
            title.append("\n" + shown, style="italic")
        parts = [
            f"{s.get('dataset') or record.config.get('dataset', '?')}"
            f" / {s.get('model') or record.config.get('model', '?')}",
            f"{format_value(s.get('epochs_completed'))}/{format_value(s.get('epochs'))} epochs",
            format_duration(s.get("train_seconds")),
            f"device {format_value(s.get('device'))}",
            f"started {format_time(s.get('started_at'))}",
        ]
        title.append("  " + " · ".join(parts), style="dim")
        problem = record.damaged or s.get("error")
        if problem:
            title.append(f"\n⚠ {problem}", style="bold red")
        for warning in getattr(record, "warnings", []):  # e.g. a torn last metrics line
            title.append(f"\n⚠ {warning}", style="yellow")
        self.query_one("#detail-title", Static).update(title)

    def _show_curves(self, record: Any) -> None:
        from engine.runs.compare import metric_series

        for chart_id, title, ylabel, metrics in CHARTS:
            chart = self.query_one(f"#{chart_id}", MetricChart)
            series = {name: metric_series(record, name) for name in metrics}
            series = {name: xy for name, xy in series.items() if xy[0]}
            chart.display = bool(series) or chart_id == "chart-loss"
            chart.set_series(series, title=title, ylabel=ylabel)
        # Dehazing has three charts: loss takes the left column, PSNR and SSIM stack right.
        dehaze = self.query_one("#chart-psnr", MetricChart).display
        self.query_one("#chart-loss", MetricChart).set_class(dehaze, "-tall")

    def _show_metrics(self, record: Any) -> None:
        s = record.summary
        best, final = s.get("best") or {}, s.get("final") or {}
        best, final = self._with_extra_metrics(record, best, final)
        names = [k for k in final if k != "epoch"]
        names += [k for k in best if k not in final and k != "epoch"]
        rows: list[tuple[Any, ...]] = [(n, best.get(n), final.get(n)) for n in names]
        rows += [
            ("best epoch", best.get("epoch"), None),
            ("parameters", None, s.get("params")),
            ("images/s", None, s.get("images_per_second")),
            ("train time", None, format_duration(s.get("train_seconds"))),
            ("train / test images", None, f"{format_value(s.get('num_train'))}"
             f" / {format_value(s.get('num_test'))}"),
        ]  # fmt: skip
        fill_table(self.query_one("#metrics-table", DataTable), ["metric", "best", "final"], rows)
        per_class = self._last(record, "per_class_acc")
        classes = s.get("classes") or []
        table = self.query_one("#per-class-table", DataTable)
        table.display = bool(per_class)
        if per_class:
            names = [classes[i] if i < len(classes) else str(i) for i in range(len(per_class))]
            fill_table(table, ["class", "accuracy"], zip(names, per_class, strict=True))

    def _show_confusion(self, record: Any) -> None:
        matrix = self._last(record, "confusion")
        table = self.query_one("#confusion-table", DataTable)
        note = self.query_one("#confusion-note", Label)
        self._show_tab("tab-confusion", bool(matrix))
        if not matrix:
            table.display = False
            note.update("No confusion matrix: this run has no classification epochs yet.")
            return
        table.display = True
        classes = record.summary.get("classes") or [str(i) for i in range(len(matrix))]
        short = [c[:8] for c in classes]
        cells = confusion_cells(matrix, colour=not self.app.no_color)
        rows = [[Text(classes[i], style="bold"), *row] for i, row in enumerate(cells)]
        fill_table(table, ["true \\ pred", *short], rows)
        shade = "" if self.app.no_color else "; shade = share of the true class, dark → light"
        note.update(Text(f"rows: true class, columns: predicted; [n] = right answers{shade}"))

    def _show_samples(self, record: Any) -> None:
        box = self.query_one("#samples", VerticalScroll)
        box.remove_children()
        paths = sample_paths(record)
        self._show_tab("tab-samples", bool(paths))
        if not paths:
            box.mount(Label("No samples: dehazing runs save hazy | output | clear images."))
            return
        for path in paths:
            box.mount(Label(Text.assemble(("hazy | output | clear", "bold"), f"\n{path}")))
            box.mount(ImageView(path, classes="sample"))

    @staticmethod
    def _with_extra_metrics(
        record: Any, best: dict[str, Any], final: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """`best` and `final` plus the metrics the summary leaves out but metrics.jsonl has
        (balanced accuracy: honest on an imbalanced test set), read at the best epoch and
        at the last epoch that has them."""
        rows = [row for row in record.metrics if isinstance(row, dict)]
        best_row = next((r for r in rows if r.get("epoch") == best.get("epoch")), {})
        best, final = dict(best), dict(final)
        for name in EXTRA_METRICS:
            last = next((r[name] for r in reversed(rows) if r.get(name) is not None), None)
            if last is not None and name not in final:
                final[name] = last
            if best_row.get(name) is not None and name not in best:
                best[name] = best_row[name]
        return best, final

    @staticmethod
    def _last(record: Any, key: str) -> Any:
        """The summary's value, else the last epoch row's (older runs keep it there)."""
        value = record.summary.get(key)
        if value is None:
            for row in reversed(record.metrics):
                if row.get(key) is not None:
                    return row[key]
        return value

    # -- actions --------------------------------------------------------------------------
    def action_back(self) -> None:
        self.app.pop_screen()

    def action_next_tab(self) -> None:
        tabs = self.query_one("#detail-tabs", TabbedContent)
        shown = [tab for tab in TABS if tab not in self._hidden_tabs]
        index = shown.index(tabs.active) if tabs.active in shown else -1
        tabs.active = shown[(index + 1) % len(shown)]

    def _show_tab(self, tab: str, shown: bool) -> None:
        """Hide tabs with nothing to show (a confusion matrix for dehazing, samples for
        classification) so ctrl+t and the tab bar only offer what this run has."""
        tabs = self.query_one("#detail-tabs", TabbedContent)
        if shown and tab in self._hidden_tabs:
            self._hidden_tabs.discard(tab)
            tabs.show_tab(tab)
        elif not shown and tab not in self._hidden_tabs:
            if tabs.active == tab:
                tabs.active = "tab-curves"
            self._hidden_tabs.add(tab)
            tabs.hide_tab(tab)

    def action_resume(self) -> None:
        """Ask how many epochs to add, then queue the resume in the background engine."""
        if self.record is None:
            self.notify("The run is still loading.", severity="warning")
            return
        ask_resume(self.app, self.record)

    def action_rerun(self) -> None:
        if self.record is None or not self.record.config:
            self.notify("This run has no readable config to re-run.", severity="error")
            return
        self.app.edit_and_rerun(dict(self.record.config))
