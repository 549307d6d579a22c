"""One Compare (issue #14): `c` on Runs takes the marks to F4's Compare, F3 goes back to
Runs with the marks kept, Esc never throws a comparison away; the picked count reads in
correct English."""

from __future__ import annotations

from textual.widgets import SelectionList, Static, TabbedContent
from tui_helpers import async_test, open_runs, wait_for
from tui_store_helpers import write_run

from cnnlab_tui.app import CnnlabApp
from cnnlab_tui.screens.compare import CompareScreen, picked_text
from cnnlab_tui.widgets.mode_bar import ModeBar

A = "20250101-120000-conv-shapes-aaaa"
B = "20250101-130000-conv-shapes-bbbb"
C = "20250101-140000-conv-shapes-cccc"


@async_test
async def test_c_takes_the_marks_to_f4_and_nothing_is_lost(tmp_path):
    runs_dir = tmp_path / "runs"
    write_run(runs_dir, A, lr=0.01)
    write_run(runs_dir, B, lr=0.001)
    write_run(runs_dir, C, lr=0.1)
    app = CnnlabApp(data_root=tmp_path / "data", runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        runs = await open_runs(app, pilot)
        table = runs.query_one("#runs-table")
        await wait_for(pilot, lambda: table.row_count == 3, what="three runs")
        await pilot.press("space", "down", "space", "c")  # newest first: C, then B
        await wait_for(pilot, lambda: app.current_mode == "compare", what="F4's Compare")
        compare = app.screen
        assert isinstance(compare, CompareScreen) and len(app.screen_stack) == 1
        assert compare.query_one(ModeBar).mode == "compare"  # F4's label is lit, and F4 it is
        await wait_for(pilot, lambda: len(compare.selected_records) == 2, what="runs loaded")
        assert compare.selected_ids == [C, B]
        assert compare.query_one("#compare-tabs", TabbedContent).active == "tab-curves"
        picker = compare.query_one("#picker", SelectionList)
        assert sorted(picker.selected) == sorted([B, C])

        await pilot.press("f3")  # back to Runs: the marks are still there
        await wait_for(pilot, lambda: app.screen is runs, what="Runs again")
        assert runs.marked == [C, B]
        assert table.raw_row(C)["mark"] and table.raw_row(B)["mark"]
        await pilot.press("f4")  # and the same comparison
        await wait_for(pilot, lambda: app.screen is compare, what="Compare again")
        assert compare.selected_ids == [C, B]

        await pilot.press("escape")  # Esc goes back to Runs and throws nothing away
        await wait_for(pilot, lambda: app.screen is runs, what="Esc back to Runs")
        await pilot.press("f4")
        await wait_for(pilot, lambda: app.screen is compare, what="Compare after Esc")
        assert compare.selected_ids == [C, B] and len(compare.selected_records) == 2

        await pilot.press("f3", "down", "space", "c")  # mark A too: the comparison follows
        await wait_for(pilot, lambda: len(compare.selected_ids) == 3, what="three compared")
        assert app.screen is compare and len(app.screen_stack) == 1


@async_test
async def test_f4_alone_says_how_many_runs_are_picked(tmp_path):
    runs_dir = tmp_path / "runs"
    write_run(runs_dir, A)
    write_run(runs_dir, B, lr=0.1)
    app = CnnlabApp(data_root=tmp_path / "data", runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f4")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), what="Compare")
        screen = app.screen
        picker = screen.query_one("#picker", SelectionList)
        await wait_for(pilot, lambda: picker.option_count == 2, what="the picker")
        title = screen.query_one("#compare-title", Static)
        await wait_for(pilot, lambda: "0 runs picked" in str(title.render()), what="0 runs")
        picker.focus()
        await pilot.press("space")
        await wait_for(pilot, lambda: "1 run picked —" in str(title.render()), what="1 run")
        await pilot.press("escape")  # nowhere to go back to: the picks stay
        assert app.screen is screen and screen.selected_ids


def test_picked_text_plural():
    assert [picked_text(n) for n in (0, 1, 2)] == [
        "0 runs picked",
        "1 run picked",
        "2 runs picked",
    ]
