"""Live run: the followed run's curves, epoch progress, log, device line and the queue.

Training runs in the background engine; everything shown is read from the runner's
`QueuedRun` state, which the app folds from the engine's updates on the UI thread — the
snapshot when this dashboard attaches replays every epoch and batch so far, so a run
followed from a second dashboard, another SSH session or after reopening looks the same.
This screen only redraws when an `EngineEvent` or `QueueChanged` says something changed,
so training never waits on drawing. A queued sweep shows the point training now; its
queue row reads `sweep k/N`. The queue table's keys act on the highlighted entry: move it
up or down, drop it; `c` cancels the followed run. Each command goes to the engine from a
thread worker. `o` opens the run the screen shows (the header's run), not the queue
cursor's.

The loss chart draws every published batch's loss (faint braille), its TensorBoard-style
smoothed curve and the epoch means as markers, over fractional epochs; the lr chart the
learning rate per batch; `l` toggles the loss chart's log scale. The log pane keeps its
raw lines and re-wraps them when resized; the queue box grows with the screen's height.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, ProgressBar, Static

from cnnlab_tui.messages import EngineEvent, QueueChanged, RunsChanged, WorkerAnswer
from cnnlab_tui.runner import ACTIVE_STATES, QueuedRun
from cnnlab_tui.smoothing import SMOOTHING, ema_debiased
from cnnlab_tui.widgets.charts import MetricChart
from cnnlab_tui.widgets.gpu_panel import GpuPanel
from cnnlab_tui.widgets.mode_bar import ModeBar
from cnnlab_tui.widgets.rewrap_log import RewrapLog
from engine.events import BatchProgress, EpochEnd, Log, Samples

DEVICE_LINE_INTERVAL_S = 2.0
BATCH_REDRAW_S = 0.5  # the batch curves redraw at most this often (training never waits)
MAX_BATCH_POINTS = 2000  # raw batch points drawn (a longer history is thinned evenly)
# the loss chart's series: label → plotext marker (epoch means are unjoined markers)
LOSS_MARKERS = {"batch": "braille", "smoothed": "hd", "train": "x", "test": "+"}
EPOCH_MEANS = {"train", "test"}
LOSS_COLORS = {"batch": "gray"}  # the raw batch loss is the faint one under its trend
# chart id → (title, y label, {legend: metric key}) per task
CHARTS: dict[str, dict[str, tuple[str, str, dict[str, str]]]] = {
    "classify": {
        "loss-chart": ("loss", "loss", {"train": "train_loss", "test": "test_loss"}),
        "metric-chart": ("accuracy", "acc", {"train": "train_acc", "test": "test_acc"}),
    },
    "dehaze": {
        "loss-chart": ("loss", "loss", {"train": "train_loss", "test": "test_loss"}),
        "metric-chart": ("PSNR (dB)", "PSNR", {"test": "test_psnr"}),
        "ssim-chart": ("SSIM", "SSIM", {"test": "test_ssim"}),
    },
}


def format_duration(seconds: float | None) -> str:
    """`1:02:03` / `2:05`; `--:--` when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "--:--"
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def curves(metrics: list[dict[str, Any]], keys: dict[str, str]) -> dict[str, tuple[list, list]]:
    """Chart series {legend: (epochs, values)} for the metric keys present in `metrics`."""
    series: dict[str, tuple[list, list]] = {}
    for legend, key in keys.items():
        points = [
            (row.get("epoch", index + 1), row[key])
            for index, row in enumerate(metrics)
            if isinstance(row.get(key), int | float)
        ]
        if points:
            series[legend] = ([p[0] for p in points], [p[1] for p in points])
    return series


def batch_x(rows: Iterable[dict[str, Any]], num_batches: int | None = None) -> list[float]:
    """Each batch row's place in fractional epochs (`epoch - 1 + batch / batches`), so batch
    points line up with the epoch means drawn at whole epochs. An epoch's batch count is its
    last row's batch number (the last batch is always published) or `num_batches` for the
    epoch still training."""
    rows = list(rows)
    per_epoch: dict[int, int] = {}
    for row in rows:
        epoch = int(row.get("epoch") or 1)
        per_epoch[epoch] = max(per_epoch.get(epoch, 0), int(row.get("batch") or 0))
    if rows and num_batches:
        last = int(rows[-1].get("epoch") or 1)
        per_epoch[last] = max(per_epoch[last], num_batches)
    return [
        int(row.get("epoch") or 1) - 1 + int(row.get("batch") or 0) / max(1, per_epoch[
            int(row.get("epoch") or 1)])
        for row in rows
    ]  # fmt: skip


def batch_curves(
    rows: Iterable[dict[str, Any]], num_batches: int | None = None, key: str = "batch_loss"
) -> tuple[list[float], list[float]]:
    """(x in epochs, value) of the rows holding a number under `key` (`batch_loss`, `lr`)."""
    rows = [r for r in rows if isinstance(r.get(key), int | float)]
    return batch_x(rows, num_batches), [float(r[key]) for r in rows]


def thin(xs: list[float], ys: list[float], most: int = MAX_BATCH_POINTS) -> tuple[list, list]:
    """Every k-th point so at most about `most` are drawn (the last one always)."""
    if len(xs) <= most:
        return xs, ys
    step = math.ceil(len(xs) / most)
    keep = list(range(0, len(xs), step))
    if keep[-1] != len(xs) - 1:
        keep.append(len(xs) - 1)
    return [xs[i] for i in keep], [ys[i] for i in keep]


def loss_series(run: QueuedRun) -> dict[str, tuple[list, list]]:
    """The loss chart: raw batch loss, its smoothed curve, epoch means of train and test."""
    num_batches = run.progress.num_batches if run.progress is not None else None
    xs, ys = batch_curves(run.batches, num_batches)
    series: dict[str, tuple[list, list]] = {}
    if xs:
        series["batch"] = thin(xs, ys)
        series["smoothed"] = thin(xs, ema_debiased(ys, SMOOTHING))
    series.update(curves(run.metrics, {"train": "train_loss", "test": "test_loss"}))
    return series


def lr_series(run: QueuedRun) -> dict[str, tuple[list, list]]:
    """The lr chart: the learning rate per batch, else per epoch (older engines)."""
    num_batches = run.progress.num_batches if run.progress is not None else None
    xs, ys = batch_curves(run.batches, num_batches, key="lr")
    if xs:
        return {"lr": thin(xs, ys)}
    return curves(run.metrics, {"lr": "lr"})


def gpu_memory_series(telemetry: dict[str, Any]) -> dict[str, tuple[list, list]]:
    """GPU memory used (GiB) over the telemetry's last minute, per GPU: x in seconds before
    now (one reading a second). Empty without GPUs: nothing is drawn."""
    if not telemetry.get("available"):
        return {}
    series: dict[str, tuple[list, list]] = {}
    for index, values in sorted((telemetry.get("memory_history") or {}).items()):
        points = [(i - len(values) + 1, v / 2**30) for i, v in enumerate(values)
                  if isinstance(v, int | float)]  # fmt: skip
        if points:
            series[f"gpu{index}"] = ([p[0] for p in points], [p[1] for p in points])
    return series


def memory_text(pid: int | None) -> str:
    """The training process's memory (the engine's RSS, read from /proc; '' elsewhere)."""
    if not pid:
        return ""
    try:
        with open(f"/proc/{int(pid)}/statm") as statm:
            rss = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError, IndexError):
        return ""
    return f"engine RSS {rss / 2**20:,.0f} MiB"


def idle_text(runner: Any) -> str:
    """The run line when nothing is followed: where training would happen."""
    if runner.attached:
        return "No run in the engine — press f1 to set one up."
    return "No engine running — press f1 to set up a run (it starts the engine)."


class LiveScreen(Screen):
    """Follow the current run; cancel it; manage the queue."""

    TITLE = "Live run"
    CSS_PATH = Path(__file__).parent.parent / "styles" / "live.tcss"
    BINDINGS = [
        Binding("c", "cancel_run", "Cancel"),
        Binding("x", "remove_queued", "Drop"),
        Binding("u", "move('up')", "Up"),
        Binding("d", "move('down')", "Down"),
        Binding("o", "open_detail", "Detail"),
        Binding("l", "toggle_log_scale", "Log y"),
    ]

    class CommandDone(WorkerAnswer):
        """A queue command's outcome, for a person: what happened, or why not."""

        def __init__(self, text: str, ok: bool = True) -> None:
            super().__init__()
            self.text, self.ok = text, ok

    def __init__(self) -> None:
        super().__init__()
        self._shown: str | None = None  # queue id of the run on screen
        self._log_written = 0  # how many of that run's log lines the pane holds
        self._error_written = False
        self._batches_dirty = False

    def compose(self) -> ComposeResult:
        yield ModeBar("live")
        yield Static("Looking for the engine…", id="run-line")
        yield Static("", id="device-line", classes="muted")
        yield GpuPanel(source=self.app.runner.telemetry, id="gpu-panel")
        with Horizontal(id="progress-row"):
            yield ProgressBar(total=None, show_eta=False, id="epoch-progress")
            yield Static("", id="progress-text")
        with Horizontal(id="charts"):
            # the legends go on one line under the row: a chart's title has no room at 80×24
            yield MetricChart("loss", "loss", legend_in_title=False, id="loss-chart")
            yield MetricChart("accuracy", "acc", legend_in_title=False, id="metric-chart")
            yield MetricChart("SSIM", "SSIM", legend_in_title=False, id="ssim-chart")
            yield MetricChart("learning rate", "lr", legend_in_title=False, id="lr-chart")
            yield MetricChart("GPU memory", "GiB", xlabel="seconds", legend_in_title=False,
                              id="gpu-memory-chart")  # fmt: skip
        yield Static("", id="chart-legend", classes="muted")
        with Horizontal(id="bottom"):
            yield RewrapLog(id="log", max_lines=500, min_width=20)
            yield DataTable(id="queue", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#queue", DataTable)
        table.add_columns("id", "state", "lane", "ep", "run")
        self.query_one("#ssim-chart").display = False
        self.query_one("#gpu-memory-chart").display = False  # until a GPU reports
        self.set_interval(DEVICE_LINE_INTERVAL_S, self._show_device)
        self.set_interval(BATCH_REDRAW_S, self._redraw_batches)
        self._refresh_all()

    # -- messages ---------------------------------------------------------------------------
    def on_engine_event(self, message: EngineEvent) -> None:
        runner = self.app.runner
        current = runner.current
        if current is None:
            return
        if current.queue_id != self._shown:
            self._show_run(current)
            return
        if message.queue_id != self._shown:
            return
        match message.event:
            case BatchProgress():
                self._show_progress(current)
                self._batches_dirty = True
            case EpochEnd():
                self._show_charts(current)
                self._show_title(current)
                self._show_queue()  # its epoch count
            case Log():
                self._sync_log(current)
            case Samples():
                self._show_run(current)
            case _:  # a run or sweep point starting or ending: its state in the queue too
                self._show_run(current)
                self._show_queue()

    @on(GpuPanel.Shown)
    def _gpu_memory(self, message: GpuPanel.Shown) -> None:
        """GPU memory over time when the engine has GPUs; nothing drawn without (the GPU
        panel's one line says why)."""
        series = gpu_memory_series(message.telemetry)
        chart = self.query_one("#gpu-memory-chart", MetricChart)
        chart.display = bool(series)
        if series:
            chart.set_series(series)
        self._show_legend()

    def on_queue_changed(self, _message: QueueChanged) -> None:
        self._refresh_all()

    def on_runs_changed(self, _message: RunsChanged) -> None:
        self._show_queue()

    def on_screen_resume(self) -> None:
        self._refresh_all()

    # -- drawing ------------------------------------------------------------------------------
    def _refresh_all(self) -> None:
        current = self.app.runner.current
        if current is None:
            self.query_one("#run-line", Static).update(idle_text(self.app.runner))
        elif current.queue_id != self._shown or current.state != "queued":
            self._show_run(current)
        self._show_queue()

    def _show_run(self, run: QueuedRun) -> None:
        if run.queue_id != self._shown:
            self._shown = run.queue_id
            self.query_one("#log", RewrapLog).reset()
            self._log_written = 0
            self._error_written = False
        self._show_title(run)
        self._show_device()
        self._show_progress(run)
        self._show_charts(run)
        self._sync_log(run)

    def _sync_log(self, run: QueuedRun) -> None:
        """Write the log lines the pane does not hold yet (never rewrite: no duplicates)."""
        new = min(run.logs_total - self._log_written, len(run.logs))
        log = self.query_one("#log", RewrapLog)
        for line in list(run.logs)[len(run.logs) - new :] if new > 0 else []:
            log.add(line)
        self._log_written = run.logs_total
        if run.state == "finished" and run.error and not self._error_written:
            log.add(f"error: {run.error}")
            self._error_written = True

    def _show_title(self, run: QueuedRun) -> None:
        state = run.status if run.state == "finished" else run.state
        parts = [f"{run.label}", run.queue_id, f"{state}", f"epoch {run.epoch_text}"]
        if run.is_sweep:
            parts.insert(1, run.progress_text)
        if run.run_id:
            parts.append(run.run_id)
        line = self.query_one("#run-line", Static)
        line.update(Text(" · ".join(parts)))  # labels hold `[4,8]`: never markup
        line.set_class(state in ("failed", "diverged"), "-bad")

    def _show_device(self) -> None:
        run = self.app.runner.get(self._shown) if self._shown else None
        if run is None:
            return
        parts = [f"lane {run.lane or '?'}"]
        if run.device:
            parts.append(f"device {run.device}")
        if run.params is not None:
            parts.append(f"{run.params:,} params")
        if run.num_train:
            parts.append(f"{run.num_train:,} train / {run.num_test:,} test")
        parts.append(memory_text(self.app.runner.engine_info.get("pid")))
        self.query_one("#device-line", Static).update(" · ".join(p for p in parts if p))

    def _show_progress(self, run: QueuedRun) -> None:
        bar = self.query_one("#epoch-progress", ProgressBar)
        text = self.query_one("#progress-text", Static)
        progress = run.progress
        if run.state == "finished":
            bar.update(total=1, progress=1)
            text.update(Text(f"{run.status}" + (f": {run.error}" if run.error else "")))
            return
        if progress is None:
            bar.update(total=None)
            if run.state == "queued":
                message = f"waiting for lane {run.lane or '?'} (#{run.position or '?'} in line)…"
            elif run.waiting_for_lanes:  # a run over several GPUs gathering its lanes
                from engine.service.jobs import waiting_text

                message = f"{waiting_text(run.waiting_for_lanes)} (it holds {run.lane})…"
            else:
                message = "loading data…"
            text.update(message)
            return
        bar.update(total=progress.num_batches, progress=progress.batch)
        # Fixed-size line (live.tcss): skip the layout pass on every batch.
        text.update(
            f"ep {progress.epoch} · {progress.batch}/{progress.num_batches} · "
            f"loss {progress.loss:.4f} · {progress.images_per_second:,.0f} img/s · "
            f"ETA {format_duration(progress.eta_seconds)}",
            layout=False,
        )

    def _show_charts(self, run: QueuedRun) -> None:
        self._batches_dirty = False
        layout = CHARTS.get(run.task, CHARTS["classify"])
        for chart_id in ("loss-chart", "metric-chart", "ssim-chart"):
            chart = self.query_one(f"#{chart_id}", MetricChart)
            spec = layout.get(chart_id)
            chart.display = spec is not None
            if spec is None:
                continue
            title, ylabel, keys = spec
            if chart_id == "loss-chart":
                chart.set_series(loss_series(run), title, ylabel, markers=LOSS_MARKERS,
                                 points=EPOCH_MEANS, colors=LOSS_COLORS)  # fmt: skip
            else:
                chart.set_series(curves(run.metrics, keys), title, ylabel)
        self.query_one("#lr-chart", MetricChart).set_series(lr_series(run))
        self._show_legend()

    def _show_legend(self) -> None:
        """Each shown chart's series by its marker, on the line under the charts."""
        parts = [
            f"{chart.chart_title}: {chart.legend_text}"
            for chart in self.query(MetricChart)
            if chart.display and chart.series
        ]
        self.query_one("#chart-legend", Static).update(Text("  │  ".join(parts)))

    def _redraw_batches(self) -> None:
        """The batch curves, when batches came since the last drawing (a timer's tick)."""
        run = self.app.runner.get(self._shown) if self._shown else None
        if run is not None and self._batches_dirty:
            self._show_charts(run)

    def _show_queue(self) -> None:
        table = self.query_one("#queue", DataTable)
        selected = self._selected_queue_id()  # redrawn every epoch: keep the cursor's row
        table.clear()
        for run in self.app.runner.runs:
            label = Text(run.label)  # a sweep's label holds `[4,8]`: never markup
            table.add_row(
                run.queue_id, run.state_text, run.lane, run.epoch_text, label, key=run.queue_id
            )
        if selected is not None and self.app.runner.get(selected) is not None:
            table.move_cursor(row=table.get_row_index(selected), animate=False)

    # -- actions ----------------------------------------------------------------------------
    def _selected_queue_id(self) -> str | None:
        table = self.query_one("#queue", DataTable)
        if table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return row_key.value

    def action_cancel_run(self) -> None:
        """Ask, then cancel the followed run (it is saved as cancelled)."""
        run = self.app.runner.current
        if run is None or run.state not in ACTIVE_STATES:
            self.notify("No run is training.", severity="warning")
            return
        from cnnlab_tui.screens.confirm import ConfirmScreen

        def answered(answer: bool | None) -> None:
            if answer:
                self.notify(f"Cancelling {run.label}…", timeout=3, markup=False)
                self._command("cancel", run.queue_id)

        question = f"Cancel {run.label} ({run.queue_id})? It is saved as cancelled."
        self.app.push_screen(
            ConfirmScreen(question, title="Cancel run?", yes_label="Cancel run"), answered
        )

    def _selected_queued(self) -> QueuedRun | None:
        queue_id = self._selected_queue_id()
        run = self.app.runner.get(queue_id) if queue_id else None
        if run is None or run.state != "queued":
            self.notify("Select a queued (not yet started) entry first.", severity="warning")
            return None
        return run

    def action_remove_queued(self) -> None:
        run = self._selected_queued()
        if run is not None:
            self._command("cancel", run.queue_id)

    def action_move(self, where: str) -> None:
        run = self._selected_queued()
        if run is not None:
            self._command("move", run.queue_id, where)

    @work(thread=True, group="queue-command")
    def _command(self, what: str, queue_id: str, where: str = "") -> None:
        from engine.errors import CnnlabError

        runner = self.app.runner
        try:
            if what == "move":
                position = runner.move(queue_id, where)
                self.post_message(self.CommandDone(f"{queue_id} is #{position} in line."))
            else:
                was = runner.cancel(queue_id)
                done = "Removed from the queue" if was == "queued" else "Cancelling"
                self.post_message(self.CommandDone(f"{done}: {queue_id}."))
        except CnnlabError as exc:
            self.post_message(self.CommandDone(str(exc), ok=False))

    @on(CommandDone)
    def _command_done(self, answer: CommandDone) -> None:
        severity = "information" if answer.ok else "error"
        self.notify(answer.text, severity=severity, timeout=3 if answer.ok else 8, markup=False)

    def action_toggle_log_scale(self) -> None:
        """Loss in log scale (or back to linear): the chart's title says which."""
        chart = self.query_one("#loss-chart", MetricChart)
        chart.set_log_y(not chart.log_y)

    def action_open_detail(self) -> None:
        """Open the run this screen shows (the header's), whatever the queue cursor is on."""
        queue_id = self._shown
        run = self.app.runner.get(queue_id) if queue_id else None
        if run is None or run.run_id is None:
            self.notify("That run has no folder yet.", severity="warning")
            return
        self.app.open_detail(run.run_id)
