"""New run, Run detail (each tab) and the Conv lab re-flow at any size ≥ 80×24 (issue #14,
point 6): at 80×24 nothing essential is cut (the widgets a person needs lie inside the
screen), at 200×60 the room is used, and resizing from one to the other and back within
one session re-flows both ways."""

from __future__ import annotations

from textual.geometry import Region
from textual.widgets import DataTable, Input, Static, TabbedContent
from tui_helpers import async_test, form_field, open_new_run, type_into, wait_for
from tui_store_helpers import write_run

from cnnlab_tui.app import CnnlabApp
from cnnlab_tui.screens.conv_lab import ConvLabScreen
from cnnlab_tui.screens.detail import DetailScreen
from cnnlab_tui.widgets.charts import MetricChart
from cnnlab_tui.widgets.forms import FormField
from engine.ops import arithmetic

SMALL, LARGE = (80, 24), (200, 60)
RUN = "20250101-120000-conv-shapes-aaaa"


def _app(tmp_path) -> CnnlabApp:
    return CnnlabApp(data_root=tmp_path / "data", runs_dir=tmp_path / "runs")


def _inside(widget, size: tuple[int, int]) -> bool:
    """The widget is shown, not empty, and wholly on a screen of `size`."""
    region = widget.region
    return widget.display and region.area > 0 and Region(0, 0, *size).contains_region(region)


async def _resize(pilot, size: tuple[int, int]) -> None:
    await pilot.resize_terminal(*size)
    await pilot.pause(0.3)


@async_test
async def test_new_run_keeps_launch_and_the_error_line_at_80x24_and_widens_at_200x60(
    tmp_path,
):
    app = _app(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_new_run(app, pilot)
        await type_into(pilot, screen, "lr", "fast")
        lr = form_field(screen, "lr")
        await wait_for(pilot, lambda: lr.error is not None, what="lr message")
        await wait_for(pilot, lambda: not screen.checking, what="the form's check")
        await pilot.press("ctrl+s")  # refused: the reason goes beside Launch
        await pilot.pause()
        for size in (SMALL, LARGE, SMALL):
            await _resize(pilot, size)
            launch, status = screen.query_one("#launch"), screen.query_one("#launch-status")
            assert _inside(launch, size) and _inside(status, size), size
            said = str(status.render())
            assert "Not launched" in said and "fast" in said
            # The whole reason fits its box (wrapped, not cut).
            assert status.region.area >= len(said), size
            form = screen.query_one("#form")
            form.scroll_to_widget(lr, animate=False)
            await pilot.pause()
            error = lr.query_one(".field-error", Static)
            assert form.region.contains_region(error.region), size  # on screen once scrolled
            assert lr.error in str(error.render()) and error.region.right <= size[0]
            control = lr.query_one(Input)
            if size == LARGE:
                assert screen.has_class("-wide")
                assert control.region.width > 64  # longer fields where there is room
            else:
                assert not screen.has_class("-wide") and control.region.width <= 64
                assert control.region.right <= size[0]


@async_test
async def test_run_detail_tabs_fit_80x24_and_grow_at_200x60(tmp_path):
    write_run(tmp_path / "runs", RUN, epochs=2)
    app = _app(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        app.open_detail(RUN)
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen), what="detail")
        screen = app.screen
        await wait_for(pilot, lambda: screen.record is not None, what="the run to load")
        tabs = screen.query_one("#detail-tabs", TabbedContent)
        essentials = {
            "tab-curves": ["#chart-loss", "#chart-acc"],
            "tab-metrics": ["#metrics-table", "#per-class-table"],
            "tab-confusion": ["#confusion-note", "#confusion-table"],
            "tab-config": ["#config-table"],
            "tab-log": ["#log-text"],
            "tab-errors": ["#errors-pane"],
            "tab-predict": ["#predict-pane"],
        }
        for size in (SMALL, LARGE, SMALL):
            await _resize(pilot, size)
            for tab, selectors in essentials.items():
                tabs.active = tab
                await pilot.pause(0.1)
                assert _inside(screen.query_one("#detail-title"), size), (tab, size)
                for selector in selectors:
                    assert _inside(screen.query_one(selector), size), (tab, selector, size)
                if tab == "tab-curves":
                    charts = [screen.query_one(s, MetricChart) for s in selectors]
                    least = 90 if size == LARGE else 38  # side by side, half the width each
                    assert all(c.region.width >= least for c in charts), size
                    assert all(c.region.height >= (50 if size == LARGE else 15) for c in charts)
                if tab == "tab-confusion":
                    note = screen.query_one("#confusion-note")
                    assert "[n] = right answers" in str(note.render())
                    table = screen.query_one("#confusion-table", DataTable)
                    assert table.region.width == size[0] and table.row_count == 3
                if tab == "tab-metrics":
                    table = screen.query_one("#metrics-table", DataTable)
                    assert table.region.width >= (150 if size == LARGE else 50), size


@async_test
async def test_conv_lab_map_fits_its_panel_at_80x24_and_goes_square_at_200x60(tmp_path):
    async with _app(tmp_path).run_test(size=SMALL) as pilot:
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConvLabScreen), what="lab")
        screen = pilot.app.screen
        screen.query_one("#conv-tabs", TabbedContent).active = "tab-hdc"
        screen.query_one("#field-dilations", FormField).query_one(Input).value = "2, 4, 6"
        pixels = arithmetic.gridding_map([2, 4, 6], 3).shape[0]  # 25
        for size in (SMALL, LARGE, SMALL):
            await _resize(pilot, size)
            panel = screen.query_one("#hdc-result")
            drawing = screen.query_one("#gridding-map", Static)
            lines = str(drawing.content).split("\n")
            assert len(lines) == pixels, size  # one row per map row: never wrapped
            room = panel.scrollable_content_region
            assert max(len(line) for line in lines) <= room.width, size  # nothing cut
            assert drawing.region.x >= room.x and drawing.region.right <= room.right
            # Square pixels (two columns each) once the panel has room for them.
            assert len(lines[0]) == (2 * pixels if size == LARGE else pixels), size
            for selector in ("#field-dilations", "#field-hdc_kernel", "#hdc-verdict",
                             "#gridding-caption"):  # fmt: skip
                assert _inside(screen.query_one(selector), size), (selector, size)
            caption = str(screen.query_one("#gridding-caption", Static).content)
            assert "never seen" in caption
        screen.query_one("#conv-tabs", TabbedContent).active = "tab-learn"
        for size in (SMALL, LARGE):
            await _resize(pilot, size)
            assert _inside(screen.query_one("#learn"), size)
            chart = screen.query_one("#learn-chart", MetricChart)
            assert _inside(chart, size) and chart.region.width >= size[0] - 45


@async_test
async def test_conv_lab_map_drawn_while_its_tab_was_hidden_fits_when_shown(tmp_path):
    """The map is computed when the lab opens, on the Output size tab: shown later (ctrl+t)
    it is drawn for the panel it lands in, not for a guess."""
    async with _app(tmp_path).run_test(size=SMALL) as pilot:
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConvLabScreen), what="lab")
        screen = pilot.app.screen
        await pilot.pause()
        await pilot.press("ctrl+t")
        await pilot.pause(0.3)
        assert screen.query_one("#conv-tabs", TabbedContent).active == "tab-hdc"
        room = screen.query_one("#hdc-result").scrollable_content_region
        lines = str(screen.query_one("#gridding-map", Static).content).split("\n")
        assert len(lines) == 17 and max(len(line) for line in lines) <= room.width


@async_test
async def test_a_map_wider_than_its_panel_scrolls_sideways_rather_than_wrap(tmp_path):
    async with _app(tmp_path).run_test(size=SMALL) as pilot:
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConvLabScreen), what="lab")
        screen = pilot.app.screen
        screen.query_one("#conv-tabs", TabbedContent).active = "tab-hdc"
        screen.query_one("#field-dilations", FormField).query_one(Input).value = "1, 2, 5, 9"
        pixels = arithmetic.gridding_map([1, 2, 5, 9], 3).shape[0]  # 35: more than 33
        panel = screen.query_one("#hdc-result")

        def map_lines() -> list[str]:
            return str(screen.query_one("#gridding-map", Static).content).split("\n")

        await wait_for(pilot, lambda: len(map_lines()) == pixels, what="the map redrawn")
        lines = map_lines()
        assert len(lines) == pixels and {len(line) for line in lines} == {pixels}
        assert pixels > panel.scrollable_content_region.width and panel.max_scroll_x > 0
        await _resize(pilot, LARGE)
        await wait_for(pilot, lambda: {len(line) for line in map_lines()} == {2 * pixels},
                       what="square pixels at 200x60")  # fmt: skip
        assert panel.max_scroll_x == 0
