"""Live re-flows at any size ≥ 80×24: the log re-wraps its kept lines at the new width, the
queue box grows with the height (the active run stays in view at 200×60 with many queued),
chart legends sit on a line of their own under the charts, never on the curves; GPU memory
over time is charted from the engine's telemetry (a stand-in only for the NVML readings this
machine lacks), and without a GPU nothing is drawn."""

from __future__ import annotations

import asyncio

import pytest
from textual.widgets import DataTable
from tui_helpers import async_test, tiny_config, wait_for

from cnnlab_tui.app import CnnlabApp
from cnnlab_tui.runner import RunQueue
from cnnlab_tui.screens.live import LiveScreen
from cnnlab_tui.widgets.charts import MetricChart
from cnnlab_tui.widgets.gpu_panel import GpuPanel
from cnnlab_tui.widgets.rewrap_log import RewrapLog
from engine.telemetry.nvml import GpuReading
from engine.telemetry.sampler import Snapshot
from engine.trainer.config import TrainConfig

GIB = 2**30
LONG = "word " * 60  # 300 characters: several lines at any width


async def submit(app: CnnlabApp, **config) -> str:
    view = await asyncio.to_thread(app.runner.submit_run, TrainConfig(**tiny_config(**config)))
    return view["queue_id"]


@async_test
async def test_the_log_rewraps_its_kept_lines_when_the_screen_is_resized(tmp_path):
    # No run here: a run that ends or starts would reset the log mid-test (a new run shown).
    app = CnnlabApp(tmp_path, tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f2")
        live = app.screen
        assert isinstance(live, LiveScreen)
        log = live.query_one("#log", RewrapLog)
        log.add(LONG)
        await pilot.pause()
        narrow_lines = len(log.lines)
        assert narrow_lines > 1 and max(len(line.text) for line in log.lines) <= 80

        await pilot.resize_terminal(200, 60)
        await pilot.pause()
        await pilot.pause()
        # the kept raw lines were written again at the wider width: fewer, longer lines
        assert 0 < len(log.lines) < narrow_lines
        assert max(len(line.text) for line in log.lines) > 80

        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.pause()
        assert len(log.lines) == narrow_lines  # back to the narrow wrapping, no duplicates


@pytest.mark.slow
@async_test
async def test_the_queue_grows_with_the_screen_and_legends_stay_off_the_curves(tmp_path, runs):
    app = CnnlabApp(tmp_path, runs)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f2")
        live = app.screen
        assert isinstance(live, LiveScreen)
        # 300 epochs of 4 batches can end in 10 s on an idle box: this one runs until cancelled
        first = await submit(app, data_root=str(tmp_path), epochs=50_000, max_train_batches=4)
        queued = [await submit(app, data_root=str(tmp_path), epochs=1) for _ in range(12)]
        table = live.query_one("#queue", DataTable)
        await wait_for(pilot, lambda: table.row_count == 13
                       and app.runner.get(first).state == "running", timeout=60,
                       what="the run training, the rest queued")  # fmt: skip
        await pilot.pause()
        small_queue = table.size.height

        await pilot.resize_terminal(200, 60)
        await pilot.pause()
        await pilot.pause()
        assert table.size.height > small_queue + 5  # the queue box grew with the height
        active_row = table.get_row_index(first)
        top = table.scroll_offset.y
        assert top <= active_row < top + table.size.height - 1  # in view (under the header)
        assert table.size.height - 1 >= 10  # ten or more queue rows in view at 200×60

        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.pause()
        loss = live.query_one("#loss-chart", MetricChart)
        await wait_for(pilot, lambda: loss.series.get("batch", ([], []))[0], timeout=60,
                       what="the first batches charted")  # fmt: skip
        await pilot.pause()
        legend = str(live.query_one("#chart-legend").render())
        shown = [chart for chart in live.query(MetricChart) if chart.display and chart.series]
        assert loss in shown
        for chart in shown:
            lines = chart.rendered_text().splitlines()
            # every series named in full with its marker on the legend line under the charts
            assert f"{chart.chart_title}: {chart.legend_text}" in legend, legend
            inside = "".join(plot_area(lines))
            assert inside and not any(label in inside for label in chart.series), lines
        await asyncio.to_thread(app.runner.cancel_all, [first, *queued])


def plot_area(lines: list[str]) -> list[str]:
    """The text inside a plotext frame (between ┌ and └, inside the side borders)."""
    top = next(i for i, line in enumerate(lines) if "┌" in line)
    bottom = next(i for i, line in enumerate(lines) if "└" in line)
    left = lines[top].index("┌") + 1
    return [line[left : line.rindex("│")] for line in lines[top + 1 : bottom] if "│" in line]


def _fake_gpu_telemetry(_self: RunQueue) -> dict:
    """What the engine's NVML sampler would report for one busy GPU (none on this box)."""
    reading = GpuReading(0, "GPU-0", "NVIDIA H200", 80.0, 40 * GIB, 140 * GIB, 61.0, 450.0,
                         [{"pid": 42, "memory": 40 * GIB}])  # fmt: skip
    return Snapshot(True, None, [reading], history={0: [70.0, 80.0, 90.0]},
                    memory_history={0: [10 * GIB, 20 * GIB, None, 40 * GIB]}).to_dict()  # fmt: skip


@async_test
async def test_gpu_memory_is_charted_over_time_when_the_engine_has_a_gpu(tmp_path, monkeypatch):
    monkeypatch.setattr(RunQueue, "telemetry", _fake_gpu_telemetry)
    app = CnnlabApp(tmp_path, tmp_path / "runs")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f2")
        live = app.screen
        assert isinstance(live, LiveScreen)
        chart = live.query_one("#gpu-memory-chart", MetricChart)
        await wait_for(pilot, lambda: chart.display, what="the memory chart")
        assert chart.series == {"gpu0": ([-3, -2, 0], [10.0, 20.0, 40.0])}
        await pilot.pause()
        assert "GPU memory: ⣿ gpu0" in str(live.query_one("#chart-legend").render())


@async_test
async def test_no_gpu_is_one_line_and_no_memory_chart(tmp_path, monkeypatch):
    monkeypatch.setattr(RunQueue, "telemetry",
                        lambda _self: {"available": False, "message": "no GPU"})  # fmt: skip
    app = CnnlabApp(tmp_path, tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f2")
        live = app.screen
        panel = live.query_one(GpuPanel)
        await wait_for(pilot, lambda: panel.lines == ["no GPU"], what="the panel's line")
        await pilot.pause()
        assert not live.query_one("#gpu-memory-chart", MetricChart).display
