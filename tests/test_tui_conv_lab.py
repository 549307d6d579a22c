"""Conv lab screen: numbers come from engine.ops, fields validate as typed, the demo runs
in a worker and its loss reaches the chart. Pilot tests at 80×24 and a larger size."""

from __future__ import annotations

import pytest
from textual.widgets import Button, DataTable, Input, Static, TabbedContent
from tui_helpers import async_test, wait_for

from cnnlab_tui.app import CnnlabApp
from cnnlab_tui.screens.conv_lab import ConvLabScreen, gridding_text, matrix_text
from cnnlab_tui.widgets.charts import MetricChart
from cnnlab_tui.widgets.forms import FormField
from engine.ops import arithmetic

SIZES = [(80, 24), (140, 44)]


def _app(tmp_path) -> CnnlabApp:
    return CnnlabApp(data_root=tmp_path / "data", runs_dir=tmp_path / "runs")


async def _open_lab(pilot) -> ConvLabScreen:
    await pilot.press("f5")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConvLabScreen), what="Conv lab")
    await pilot.pause()
    return pilot.app.screen


async def _type(pilot, screen: ConvLabScreen, key: str, text: str, *, keys: bool = False) -> None:
    """Replace a field's text; `keys=True` types it key by key, as a person would."""
    control = screen.query_one(f"#field-{key}", FormField).query_one(Input)
    if keys:
        control.focus()
        control.value = ""
        await pilot.press(*text)
    else:
        control.value = text  # posts Input.Changed exactly like typing does
    await pilot.pause()


def _text(screen: ConvLabScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def _error(screen: ConvLabScreen, key: str) -> str | None:
    return screen.query_one(f"#field-{key}", FormField).error


@pytest.mark.parametrize("size", SIZES)
@async_test
async def test_output_size_follows_the_form_and_refuses_bad_fields(tmp_path, size):
    async with _app(tmp_path).run_test(size=size) as pilot:
        screen = await _open_lab(pilot)
        await _type(pilot, screen, "size", "7", keys=True)
        for key, text in [("kernel_size", "3"), ("stride", "2"), ("padding", "1")]:
            await _type(pilot, screen, key, text)
        expected = arithmetic.conv_output_size(7, 3, stride=2, padding=1, dilation=1)
        assert f"output size = {expected}" in _text(screen, "#size-result")
        await _type(pilot, screen, "dilation", "2")
        expected = arithmetic.conv_output_size(7, 3, stride=2, padding=1, dilation=2)
        assert f"output size = {expected}" in _text(screen, "#size-result")
        assert "effective kernel (k − 1)·d + 1 = 5" in _text(screen, "#size-result")

        await _type(pilot, screen, "stride", "0")
        assert _error(screen, "stride") == "must be ≥ 1"
        assert "output size" not in _text(screen, "#size-result")
        await _type(pilot, screen, "stride", "x")
        assert "whole number" in (_error(screen, "stride") or "")
        await _type(pilot, screen, "stride", "1")
        assert _error(screen, "stride") is None
        # A kernel wider than the padded input is the engine's call: its message is shown.
        await _type(pilot, screen, "size", "2")
        await _type(pilot, screen, "padding", "0")
        assert "larger than the input" in _text(screen, "#size-result")
        assert pilot.app.is_running


@async_test
async def test_hdc_table_verdict_and_gridding_map(tmp_path):
    async with _app(tmp_path).run_test(size=(140, 44)) as pilot:
        screen = await _open_lab(pilot)
        await pilot.press("ctrl+t")
        assert screen.query_one("#conv-tabs", TabbedContent).active == "tab-hdc"
        table = screen.query_one("#hdc-table", DataTable)
        report = arithmetic.hdc_check([1, 2, 5], 3)
        assert [table.get_row_at(i)[:3] for i in range(table.row_count)] == [
            [str(v) for v in row] for row in report.table()
        ]
        assert "✓ HDC holds" in _text(screen, "#hdc-verdict")
        assert "0 holes of 289" in _text(screen, "#gridding-caption")

        await _type(pilot, screen, "dilations", "2, 4, 6")
        verdict = _text(screen, "#hdc-verdict")
        assert "✗" in verdict and "common factor 2" in verdict
        holes = int((arithmetic.gridding_map([2, 4, 6], 3) == 0).sum())
        assert holes > 0
        assert f"{holes} holes" in _text(screen, "#gridding-caption")

        await _type(pilot, screen, "dilations", "1, 0")
        assert "each ≥ 1" in (_error(screen, "dilations") or "")


def test_gridding_text_marks_holes_and_keeps_pixels_square():
    counts = arithmetic.gridding_map([2, 2], 3)  # a gridded stack: holes between taps
    size = counts.shape[0]
    text = gridding_text(counts, max_columns=2 * size)
    lines = text.plain.split("\n")
    assert len(lines) == size  # one map row per terminal row …
    assert all(len(line) == 2 * size for line in lines)  # … two columns per pixel: square
    holes = int((counts == 0).sum())
    assert holes and text.plain.count("·") == 2 * holes  # holes are a glyph, not a colour
    assert sum(text.plain.count(g) for g in "░▒▓█") == 2 * (counts.size - holes)
    narrow = gridding_text(counts, max_columns=size)  # no room for two: one column each
    assert all(len(line) == size for line in narrow.plain.split("\n"))
    assert matrix_text([[1.0, -1.0]]) == " 1.00 -1.00"


@async_test
async def test_edge_kernel_demo_refuses_bad_fields_then_learns_in_a_worker(tmp_path):
    async with _app(tmp_path).run_test(size=(80, 24)) as pilot:
        screen = await _open_lab(pilot)
        button = screen.query_one("#learn", Button)
        chart = screen.query_one("#learn-chart", MetricChart)
        await pilot.press("ctrl+t", "ctrl+t")
        await _type(pilot, screen, "lr", "-1")
        assert _error(screen, "lr") == "must be > 0"
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert chart.series == {} and not button.disabled

        await _type(pilot, screen, "lr", "0.01")
        await pilot.press("ctrl+g")
        assert screen.query_one("#conv-tabs", TabbedContent).active == "tab-learn"
        await wait_for(pilot, lambda: not button.disabled, timeout=30, what="the demo to end")
        xs, losses = chart.series["loss"]
        assert xs == [float(step) for step in range(1, 61)]
        assert losses[-1] < 1e-3 < losses[0]
        assert "learned K = [ 1.00 -1.00]" in _text(screen, "#learn-result")
