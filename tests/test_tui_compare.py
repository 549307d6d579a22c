"""Compare screen: pick runs, read the config fields that differ, the final metrics side by
side and overlaid curves — the same rows `engine.runs.compare` gives the CLI."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, SelectionList, Static, TabbedContent
from tui_helpers import async_test, wait_for
from tui_store_helpers import write_run

from cnnlab_tui.app import CnnlabApp
from cnnlab_tui.screens.compare import CompareScreen
from cnnlab_tui.screens.runs import RunsScreen
from cnnlab_tui.widgets.charts import MetricChart

A = "20250101-120000-conv-shapes-aaaa"
B = "20250101-130000-conv-shapes-bbbb"
C = "20250101-140000-conv-shapes-cccc"


def _app(tmp_path) -> CnnlabApp:
    return CnnlabApp(data_root=tmp_path / "data", runs_dir=tmp_path / "runs")


def _cells(table: DataTable) -> dict[str, list[str]]:
    """Rows keyed by their first cell (field or metric name)."""
    rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
    return {row[0]: row[1:] for row in rows}


def _headers(table: DataTable) -> list[str]:
    return [str(column.label) for column in table.columns.values()]


@pytest.mark.parametrize("size", [(80, 24), (140, 44)])
@async_test
async def test_compare_two_finished_runs_from_the_runs_table(tmp_path, size):
    runs_dir = tmp_path / "runs"
    write_run(runs_dir, A, lr=0.01, epochs=2, model_options={"widths": [4, 8]})
    write_run(runs_dir, B, lr=0.001, epochs=3, model_options={"widths": [8, 16]}, optimizer="sgd")
    async with _app(tmp_path).run_test(size=size) as pilot:
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunsScreen), what="Runs")
        table = pilot.app.screen.query_one("#runs-table")
        await wait_for(pilot, lambda: table.row_count == 2, what="two runs")
        await pilot.press("space", "down", "space", "c")  # newest first: B, then A
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, CompareScreen), what="compare")
        screen = pilot.app.screen
        await wait_for(pilot, lambda: len(screen.selected_records) == 2, what="runs loaded")
        await pilot.pause()
        assert screen.query_one("#compare-tabs", TabbedContent).active == "tab-curves"

        diff = screen.query_one("#diff-table", DataTable)
        assert _headers(diff) == ["field", "1:bbbb", "2:aaaa"]
        assert _cells(diff) == {
            "model_options.widths": ["8,16", "4,8"],
            "epochs": ["3", "2"],
            "lr": ["0.001", "0.01"],
            "optimizer": ["sgd", "adam"],
        }
        final = _cells(screen.query_one("#final-table", DataTable))
        assert final["status"] == ["completed", "completed"]
        assert final["best test_acc"] == ["0.6", "0.5"]
        assert final["epochs"] == ["3", "2"]

        chart = screen.query_one("#compare-chart", MetricChart)
        assert chart.chart_title == "test_acc"
        series = chart.series
        assert list(series) == ["1:bbbb", "2:aaaa"]
        assert series["1:bbbb"][0] == [1, 2, 3]
        assert series["1:bbbb"][1] == pytest.approx([0.4, 0.5, 0.6])
        assert series["2:aaaa"] == ([1, 2], pytest.approx([0.4, 0.5]))
        await pilot.press("m")  # next metric: the same runs, another curve
        assert chart.chart_title != "test_acc"
        assert list(chart.series) == ["1:bbbb", "2:aaaa"]
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunsScreen), what="back")


@async_test
async def test_compare_mode_picker_updates_everything(tmp_path):
    runs_dir = tmp_path / "runs"
    write_run(runs_dir, A, lr=0.01)
    write_run(runs_dir, B, lr=0.01)
    write_run(runs_dir, C, lr=0.01, status="failed", error="loss became NaN")
    async with _app(tmp_path).run_test(size=(80, 24)) as pilot:
        await pilot.press("f4")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, CompareScreen), what="compare")
        screen = pilot.app.screen
        picker = screen.query_one("#picker", SelectionList)
        await wait_for(pilot, lambda: picker.option_count == 3, what="the picker")
        assert screen.query_one("#compare-tabs", TabbedContent).active == "tab-pick"
        title = screen.query_one("#compare-title", Static)
        assert "pick two or more" in str(title.render())

        picker.focus()
        await pilot.press("space", "down", "space")  # C (newest), then B
        await pilot.pause()
        assert screen.selected_ids == [C, B]
        assert "1:cccc" in str(title.render())
        diff = screen.query_one("#diff-table", DataTable)
        assert _cells(diff) == {"(every config field is the same)": []}
        final = _cells(screen.query_one("#final-table", DataTable))
        assert final["status"] == ["failed", "completed"]

        await pilot.press("space")  # unpick B: one run left, tables say so
        await pilot.pause()
        assert screen.selected_ids == [C]
        assert "pick two or more" in str(title.render())
        assert _cells(diff) == {}
        await pilot.press("escape")  # the Compare mode's own screen stays
        assert pilot.app.screen is screen


@async_test
async def test_compare_skips_runs_deleted_meanwhile(tmp_path):
    runs_dir = tmp_path / "runs"
    write_run(runs_dir, A)
    write_run(runs_dir, B, lr=0.1)
    async with _app(tmp_path).run_test(size=(80, 24)) as pilot:
        pilot.app.open_compare([A, B, "gone-run"])
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, CompareScreen), what="compare")
        screen = pilot.app.screen
        await wait_for(pilot, lambda: len(screen.selected_records) == 2, what="runs loaded")
        assert screen.selected_ids == [A, B]
        assert _cells(screen.query_one("#diff-table", DataTable))["lr"] == ["0.001", "0.1"]
