"""`n` on Runs names and annotates a run (issue #14): the dialog writes labels.json through
the engine's store, the name becomes the run's handle on Runs and in Compare, `/` finds a
run by its note or tags, and a bad or taken name is explained in the dialog (no traceback,
nothing written)."""

from __future__ import annotations

import json

from textual.widgets import Input, Static
from tui_helpers import async_test, open_runs, wait_for
from tui_store_helpers import write_run

from cnnlab_tui.app import CnnlabApp
from cnnlab_tui.screens.compare import CompareScreen
from cnnlab_tui.screens.labels_dialog import LabelsScreen
from cnnlab_tui.screens.runs import RunsScreen

A = "20250101-120000-conv-shapes-aaaa"
B = "20250101-130000-conv-shapes-bbbb"


async def _label(
    pilot, table, run_id: str, name: str, note: str = "", tags: str = ""
) -> LabelsScreen:
    """Open the dialog on `run_id`, fill it in as a user would and press ctrl+s."""
    table.move_cursor(row=table.get_row_index(run_id))
    await pilot.press("n")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, LabelsScreen), what="dialog")
    dialog = pilot.app.screen
    for field, text in (("name", name), ("note", note), ("tags", tags)):
        box = dialog.query_one(f"#labels-{field}", Input)
        box.focus()
        box.value = ""
        if text:
            await pilot.press(*text)
    await pilot.press("ctrl+s")
    return dialog


@async_test
async def test_n_names_a_run_and_the_name_shows_everywhere(tmp_path):
    runs_dir = tmp_path / "runs"
    write_run(runs_dir, A, lr=0.01)
    write_run(runs_dir, B, lr=0.001)
    app = CnnlabApp(data_root=tmp_path / "data", runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_runs(app, pilot)
        table = screen.table
        await wait_for(pilot, lambda: table.row_count == 2, what="two runs")
        assert str(table.get_cell(B, "handle")) == "bbbb"

        await _label(pilot, table, B, "baseline", "first try at lr", "cnn, small")
        await wait_for(pilot, lambda: app.screen is screen, what="the dialog to close")
        stored = json.loads((runs_dir / B / "labels.json").read_text())
        assert stored == {"name": "baseline", "note": "first try at lr", "tags": ["cnn", "small"]}
        await wait_for(pilot, lambda: str(table.get_cell(B, "handle")) == "baseline", what="name")

        await pilot.press("slash", *"small")  # tags, notes and names are searched
        await wait_for(pilot, lambda: table.row_ids == [B], what="found by tag")
        screen.query_one("#filter", Input).value = "first"
        await wait_for(pilot, lambda: table.row_ids == [B], what="found by note")
        screen.query_one("#filter", Input).value = "baseline"
        await wait_for(pilot, lambda: table.row_ids == [B], what="found by name")
        screen.query_one("#filter", Input).value = ""
        await pilot.press("enter")
        await wait_for(pilot, lambda: table.row_count == 2, what="unfiltered")

        await pilot.press("space", "down", "space", "c")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), what="Compare")
        compare = app.screen
        await wait_for(pilot, lambda: len(compare.selected_records) == 2, what="runs loaded")
        title = str(compare.query_one("#compare-title", Static).render())
        assert "baseline" in title and "aaaa" in title
        assert any("baseline" in label for label in compare.query_one("#compare-chart").series)


@async_test
async def test_a_bad_or_taken_name_is_explained_in_the_dialog(tmp_path):
    runs_dir = tmp_path / "runs"
    write_run(runs_dir, A, lr=0.01)
    write_run(runs_dir, B, lr=0.001)
    app = CnnlabApp(data_root=tmp_path / "data", runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_runs(app, pilot)
        table = screen.table
        await wait_for(pilot, lambda: table.row_count == 2, what="two runs")
        await _label(pilot, table, B, "baseline")
        await wait_for(pilot, lambda: app.screen is screen, what="saved")

        dialog = await _label(pilot, table, A, "latest")  # a word run references already use
        status = dialog.query_one("#labels-status", Static)
        await wait_for(pilot, lambda: status.has_class("-bad"), what="the refusal")
        assert "reserved" in str(status.render())
        assert app.screen is dialog and not (runs_dir / A / "labels.json").exists()

        name = dialog.query_one("#labels-name", Input)
        name.value = ""
        name.focus()
        await pilot.press(*"Baseline", "enter")  # B's name, in other case: taken
        await wait_for(pilot, lambda: "already used" in str(status.render()), what="taken")
        assert B in str(status.render()) and not (runs_dir / A / "labels.json").exists()

        await pilot.press("escape")  # cancel: nothing written, back on Runs
        await wait_for(pilot, lambda: app.screen is screen, what="cancelled")
        assert not (runs_dir / A / "labels.json").exists()
        assert str(table.get_cell(A, "handle")) == "aaaa"


@async_test
async def test_the_palette_finds_a_run_by_its_name(tmp_path):
    from cnnlab_tui.screens.run_commands import RunCommands
    from engine.runs import RunStore
    from engine.runs.labels import make_labels

    runs_dir = tmp_path / "runs"
    write_run(runs_dir, A, lr=0.01)
    write_run(runs_dir, B, lr=0.001)
    RunStore(runs_dir).set_labels(B, make_labels("baseline", tags="cnn"))
    app = CnnlabApp(data_root=tmp_path / "data", runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), what="Runs")
        provider = RunCommands(app.screen)
        await provider.startup()
        hits = [hit async for hit in provider.search("open baseline")]
        assert hits and hits[0].text == f"Open run {B}"
        assert "baseline" in str(hits[0].help)


@async_test
async def test_run_detail_shows_the_name_tags_and_note(tmp_path):
    from cnnlab_tui.screens.detail import DetailScreen
    from engine.runs import RunStore
    from engine.runs.labels import make_labels

    runs_dir = tmp_path / "runs"
    write_run(runs_dir, B, lr=0.001)
    RunStore(runs_dir).set_labels(B, make_labels("baseline", note="first try", tags="cnn"))
    app = CnnlabApp(data_root=tmp_path / "data", runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_detail("baseline")  # the name is a handle here too
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen), what="Run detail")
        screen = app.screen
        await wait_for(pilot, lambda: screen.record is not None, what="the run to load")
        await pilot.pause()
        shown = str(screen.query_one("#detail-title", Static).render())
        assert shown.startswith("baseline · ") and "#cnn" in shown and "first try" in shown
