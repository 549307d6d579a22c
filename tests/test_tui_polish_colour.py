"""Colour is never the only signal (issue #14, point 7): the Conv lab's gridding map marks
holes with a glyph and names every glyph in its legend; Run detail's confusion matrix writes
every count, brackets the diagonal and shades on a colour-blind-safe ramp; with NO_COLOR
set both keep their glyphs, numbers and brackets and drop every colour."""

from __future__ import annotations

import pytest
from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual.widgets import DataTable, Input, Static, TabbedContent
from tui_helpers import async_test, wait_for
from tui_store_helpers import write_run

from cnnlab_tui.app import CnnlabApp
from cnnlab_tui.screens.conv_lab import ConvLabScreen
from cnnlab_tui.screens.detail import DetailScreen
from cnnlab_tui.widgets.forms import FormField
from cnnlab_tui.widgets.tables import RAMP, confusion_cells, ramp_colour
from engine.ops import arithmetic

RUN = "20250101-120000-conv-shapes-aaaa"


def _app(tmp_path) -> CnnlabApp:
    return CnnlabApp(data_root=tmp_path / "data", runs_dir=tmp_path / "runs")


def _colours(text: Text) -> set[str]:
    """Every foreground or background colour a rich Text (or its spans) sets."""
    styles = [text.style, *(span.style for span in text.spans)]
    found = set()
    for style in styles:
        parsed = Style.parse(style) if isinstance(style, str) else style
        found |= {c.name for c in (parsed.color, parsed.bgcolor) if c is not None}
    return found


async def _gridding(pilot, dilations: str) -> tuple[str, Text, str]:
    """Open the Conv lab's HDC tab with `dilations`; (caption text, map Text, map plain)."""
    await pilot.press("f5")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConvLabScreen), what="Conv lab")
    screen = pilot.app.screen
    tabs = screen.query_one("#conv-tabs", TabbedContent)
    while tabs.active != "tab-hdc":  # as a person gets there: the next-section key
        await pilot.press("ctrl+t")
    screen.query_one("#field-dilations", FormField).query_one(Input).value = dilations
    await pilot.pause(0.2)
    drawn = screen.query_one("#gridding-map", Static).content  # the rich Text drawn
    caption = str(screen.query_one("#gridding-caption", Static).content)
    return caption, drawn, str(drawn)


@async_test
async def test_gridding_map_marks_holes_with_a_glyph_its_legend_names(tmp_path):
    async with _app(tmp_path).run_test(size=(140, 44)) as pilot:
        caption, drawn, plain = await _gridding(pilot, "2, 4, 6")
        counts = arithmetic.gridding_map([2, 4, 6], 3)
        holes = int((counts == 0).sum())
        assert f"{holes} holes" in caption
        # The legend shows each glyph and says what it means, in words.
        assert "· never seen (a hole)" in caption and "░▒▓█ seen by 1 …" in caption
        assert plain.count("·") == 2 * holes  # two columns per pixel: square
        assert sum(plain.count(g) for g in "░▒▓█") == 2 * (counts.size - holes)
        assert len(plain.split("\n")) == counts.shape[0]
        colours = _colours(drawn)
        assert colours and not colours & {"red", "green"}  # a ramp, not red against green

        _, _, whole = await _gridding(pilot, "1, 2, 5")
        assert "·" not in whole  # HDC holds: no holes drawn


@pytest.mark.parametrize("value", ["1", "true"])
@async_test
async def test_no_color_drops_every_colour_but_keeps_glyphs_and_numbers(
    tmp_path, monkeypatch, value
):
    write_run(tmp_path / "runs", RUN, epochs=2)
    monkeypatch.setenv("NO_COLOR", value)
    app = _app(tmp_path)
    async with app.run_test(size=(140, 44)) as pilot:
        assert app.no_color  # Textual itself honours it for the whole app …
        caption, drawn, plain = await _gridding(pilot, "2, 4, 6")
        assert "·" in plain and "█" in plain
        assert _colours(drawn) == set()  # … and the lab's own styles follow
        screen = pilot.app.screen
        verdict = screen.query_one("#hdc-verdict", Static).content
        assert "✗" in str(verdict) and _colours(verdict) == set()
        await pilot.press("escape")

        app.open_detail(RUN)
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen), what="detail")
        detail = app.screen
        await wait_for(pilot, lambda: detail.record is not None, what="the run to load")
        await pilot.pause()
        table = detail.query_one("#confusion-table", DataTable)
        cells = [table.get_row_at(i)[1:] for i in range(table.row_count)]
        assert [[str(c) for c in row] for row in cells][0] == ["[5]", " 1 ", " 0 "]
        assert all(_colours(c) == set() for row in cells for c in row)
        assert "bold" in str(cells[0][0].style)  # the diagonal: bold and bracketed
        note = str(detail.query_one("#confusion-note").render())
        assert "[n] = right answers" in note and "shade" not in note


@async_test
async def test_confusion_matrix_writes_counts_and_shades_on_a_safe_ramp(tmp_path):
    write_run(tmp_path / "runs", RUN, epochs=2)
    app = _app(tmp_path)
    async with app.run_test(size=(140, 44)) as pilot:
        app.open_detail(RUN)
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen), what="detail")
        detail = app.screen
        await wait_for(pilot, lambda: detail.record is not None, what="the run to load")
        await pilot.pause()
        table = detail.query_one("#confusion-table", DataTable)
        cells = [table.get_row_at(i)[1:] for i in range(table.row_count)]
        # matrix [[5,1,0],[0,4,2],[1,0,5]]: the diagonal bracketed, every count written.
        assert [str(c) for c in cells[1]] == [" 0 ", "[4]", " 2 "]
        colours = {c for row in cells for cell in row for c in _colours(cell)}
        assert not colours & {"red", "green", "bright_red", "bright_green"}
        five = cells[0][0].style  # 5 of 6: near the light end of the ramp
        assert ramp_colour(5 / 6).replace(" ", "") in str(five).replace(" ", "")
        note = str(detail.query_one("#confusion-note").render())
        assert "[n] = right answers" in note and "dark → light" in note


def test_the_ramp_gets_lighter_as_the_share_grows():
    """Ordered by lightness, so the order survives every colour-vision deficiency and a
    grey-scale screen; black ink on the light end, white on the dark end."""

    def lightness(share: float) -> float:
        r, g, b = Color.parse(ramp_colour(share)).get_truecolor()
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    shares = [i / 10 for i in range(11)]
    values = [lightness(s) for s in shares]
    assert values == sorted(values) and values[0] < values[-1]
    assert ramp_colour(0.0) == "rgb({},{},{})".format(*RAMP[0])
    cells = confusion_cells([[9, 1], [0, 3]])
    assert [str(c) for c in cells[0]] == ["[9]", " 1 "]
    assert "black" in str(cells[0][0].style) and "white" in str(cells[0][1].style)
    plain = confusion_cells([[9, 1], [0, 3]], colour=False)
    assert [str(c.style) for c in plain[0]] == ["bold", ""]


WINDOW_DOTS = {"#ff5f57", "#febc2e", "#28c840"}  # the screenshot's window frame, not the app


def _screen_colours(app) -> set[str]:
    """Every non-grey colour the screen as drawn uses (from Textual's own screenshot)."""
    import re

    fills = set(re.findall(r'fill(?:="|: ?)(#[0-9a-fA-F]{6})', app.export_screenshot()))

    def greyish(hex_colour: str) -> bool:
        rgb = [int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]
        return max(rgb) - min(rgb) <= 8

    return {f.lower() for f in fills if not greyish(f)} - WINDOW_DOTS


@async_test
async def test_under_no_color_the_screens_are_drawn_without_colour(tmp_path, monkeypatch):
    write_run(tmp_path / "runs", RUN, epochs=2)
    monkeypatch.setenv("NO_COLOR", "1")
    app = _app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        _, _, plain = await _gridding(pilot, "2, 4, 6")
        assert "·" in plain
        assert _screen_colours(app) == set()
        await pilot.press("escape")
        app.open_detail(RUN)
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen), what="detail")
        detail = app.screen
        await wait_for(pilot, lambda: detail.record is not None, what="the run to load")
        detail.query_one("#detail-tabs", TabbedContent).active = "tab-confusion"
        await pilot.pause(0.3)
        assert "[5]" in app.export_screenshot()  # the counts and brackets are drawn
        assert _screen_colours(app) == set()
    monkeypatch.delenv("NO_COLOR")
    coloured = _app(tmp_path)
    async with coloured.run_test(size=(100, 30)) as pilot:
        coloured.open_detail(RUN)
        await wait_for(pilot, lambda: isinstance(coloured.screen, DetailScreen), what="detail")
        await wait_for(pilot, lambda: coloured.screen.record is not None, what="the run")
        coloured.screen.query_one("#detail-tabs", TabbedContent).active = "tab-confusion"
        await pilot.pause(0.3)
        assert _screen_colours(coloured)  # the check could fail: colour is seen when on
