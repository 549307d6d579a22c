"""Compare re-flows at any size ≥ 80×24 (issue #14): the chart and tables take the room
there is, and at 80×24 every compared run's column is on screen."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Static, TabbedContent
from tui_helpers import async_test, wait_for
from tui_store_helpers import write_run

from cnnlab_tui.app import CnnlabApp
from cnnlab_tui.screens.compare import CompareScreen, run_labels
from cnnlab_tui.widgets.charts import MetricChart
from engine.runs.labels import RunLabels
from engine.runs.store import RunRecord

IDS = [f"20250101-1{i}0000-conv-shapes-{c * 4}" for i, c in enumerate("abcd")]


@pytest.mark.parametrize("size", [(80, 24), (200, 60)])
@async_test
async def test_compare_uses_the_room_and_cuts_nothing(tmp_path, size):
    runs_dir = tmp_path / "runs"
    for i, run_id in enumerate(IDS):
        write_run(runs_dir, run_id, lr=0.1 / 10**i, epochs=2 + i, optimizer=("adam", "sgd")[i % 2])
    app = CnnlabApp(data_root=tmp_path / "data", runs_dir=runs_dir)
    async with app.run_test(size=size) as pilot:
        app.open_compare(IDS)
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), what="Compare")
        screen = app.screen
        await wait_for(pilot, lambda: len(screen.selected_records) == 4, what="four runs")
        await pilot.pause()
        chart = screen.query_one("#compare-chart", MetricChart)
        assert chart.size.width >= size[0] - 4
        assert chart.size.height >= size[1] - 10
        assert len(chart.series) == 4
        title = str(screen.query_one("#compare-title", Static).render())
        assert all(f"{i + 1}:" in title for i in range(4))
        tabs = screen.query_one("#compare-tabs", TabbedContent)
        for tab, table_id in (("tab-diff", "#diff-table"), ("tab-final", "#final-table")):
            tabs.active = tab
            await pilot.pause()
            table = screen.query_one(table_id, DataTable)
            assert len(table.columns) == 5  # the row names, then one column per run
            assert table.virtual_size.width <= table.size.width, f"{table_id} cut at {size}"
            assert table.size.height >= size[1] - 8


def _run(run_id: str, name: str = "") -> RunRecord:
    return RunRecord(run_id, Path(run_id), "completed", labels=RunLabels(name=name))


def test_labels_are_the_runs_handles():
    runs = [_run(IDS[0]), _run(IDS[1]), _run(IDS[2], name="slow")]
    assert run_labels(runs) == ["1:aaaa", "2:bbbb", "3:slow"]
