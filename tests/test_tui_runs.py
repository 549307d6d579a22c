"""Runs screen and the confirm modal: the table is the run store on disk — damaged folders,
runs written by another process, filtering, sorting, delete with confirmation, open/re-run."""

from __future__ import annotations

import pytest
from textual.app import App
from textual.widgets import Input, Static
from tui_helpers import async_test, wait_for
from tui_store_helpers import write_run

from cnnlab_tui.app import CnnlabApp
from cnnlab_tui.screens.confirm import ConfirmScreen
from cnnlab_tui.screens.detail import DetailScreen
from cnnlab_tui.screens.run_commands import RunCommands
from cnnlab_tui.screens.run_rows import matches_filter
from cnnlab_tui.screens.runs import RunsScreen
from cnnlab_tui.widgets.tables import SortableTable, format_duration, format_value

A = "20250101-120000-conv-shapes-aaaa"
B = "20250101-130000-conv-shapes-bbbb"
FAILED = "20250102-100000-conv-shapes-ffff"
DEHAZE = "20250103-090000-dehaze-dehaze-dddd"


def _write_store(runs_dir):
    write_run(runs_dir, A, lr=0.01, epochs=2)
    write_run(runs_dir, B, lr=0.001, epochs=4, batch_size=32)
    write_run(runs_dir, FAILED, status="failed", error="loss became NaN at epoch 2")
    write_run(runs_dir, DEHAZE, task="dehaze", model="dehaze")
    broken = runs_dir / "20250104-000000-broken-json"
    broken.mkdir()
    (broken / "summary.json").write_text("{not json")
    (runs_dir / "20250105-000000-empty-folder").mkdir()
    half = write_run(runs_dir, "20250106-000000-conv-shapes-half")
    (half / "metrics.jsonl").write_text('{"epoch": 1, "test_acc": 0.5}\n{"epo\n{"epoch": 3}\n')


def _app(tmp_path) -> CnnlabApp:
    return CnnlabApp(data_root=tmp_path / "data", runs_dir=tmp_path / "runs")


async def _open_runs(pilot, expected_rows: int) -> tuple[RunsScreen, SortableTable]:
    await pilot.press("f3")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunsScreen), what="Runs")
    screen = pilot.app.screen
    table = screen.query_one("#runs-table", SortableTable)
    await wait_for(pilot, lambda: table.row_count == expected_rows, what=f"{expected_rows} rows")
    return screen, table


@pytest.mark.parametrize("size", [(80, 24), (140, 44)])
@async_test
async def test_table_shows_every_run_and_tolerates_damaged_folders(tmp_path, size):
    _write_store(tmp_path / "runs")
    async with _app(tmp_path).run_test(size=size) as pilot:
        screen, table = await _open_runs(pilot, expected_rows=7)
        rows = {run_id: table.raw_row(run_id) for run_id in table.row_ids}
        assert rows[A]["status"] == "completed" and rows[A]["lr"] == 0.01
        assert rows[A]["best"] == pytest.approx(0.5) and rows[A]["epochs"] == 2
        assert rows[FAILED]["status"] == "failed"
        assert rows[DEHAZE]["best"] == pytest.approx(17.0)
        assert rows["20250104-000000-broken-json"]["status"] == "damaged"
        assert rows["20250105-000000-empty-folder"]["status"] == "damaged"
        assert rows["20250106-000000-conv-shapes-half"]["status"] == "damaged"
        # The info line says why the highlighted run is damaged or failed.
        table.move_cursor(row=table.get_row_index("20250104-000000-broken-json"))
        await pilot.pause()
        assert "summary.json is unreadable" in str(screen.query_one("#run-info", Static).render())
        table.move_cursor(row=table.get_row_index(FAILED))
        await pilot.pause()
        assert "loss became NaN" in str(screen.query_one("#run-info", Static).render())
        assert "7 runs" in str(screen.query_one("#runs-count", Static).render())


@async_test
async def test_table_follows_runs_written_by_another_process(tmp_path):
    runs_dir = tmp_path / "runs"
    write_run(runs_dir, A)
    # A run still going in "another process" (this one: its pid is alive, so it stays running).
    write_run(runs_dir, B, epochs=1, finish=False)
    async with _app(tmp_path).run_test(size=(80, 24)) as pilot:
        _screen, table = await _open_runs(pilot, expected_rows=2)
        assert table.raw_row(B)["status"] == "running"
        write_run(runs_dir, B, epochs=3)  # it finishes
        write_run(runs_dir, FAILED, status="failed")  # and another run appears
        await wait_for(
            pilot,
            lambda: table.row_count == 3 and table.raw_row(B)["status"] == "completed",
            timeout=10,
            what="the table to pick up changes on disk",
        )
        assert table.raw_row(B)["epochs"] == 3


@async_test
async def test_filter_and_sort(tmp_path):
    _write_store(tmp_path / "runs")
    async with _app(tmp_path).run_test(size=(80, 24)) as pilot:
        screen, table = await _open_runs(pilot, expected_rows=7)
        await pilot.press("slash", *"status:failed")
        assert screen.query_one("#filter", Input).has_focus
        await wait_for(pilot, lambda: table.row_ids == [FAILED], what="the filter")
        screen.query_one("#filter", Input).value = "lr:0.01 shapes"
        await wait_for(pilot, lambda: table.row_ids == [A], what="two filter terms")
        screen.query_one("#filter", Input).value = ""
        await pilot.press("enter")  # back to the table
        await wait_for(pilot, lambda: table.row_count == 7, what="unfiltered")
        assert table.has_focus

        while table.sort_column != "best":
            await pilot.press("s")
        best = [table.raw_row(r)["best"] for r in table.row_ids]
        present = [b for b in best if b is not None]
        missing = len(best) - len(present)
        assert missing == 2  # the two folders without a readable summary
        assert best == sorted(present) + [None] * missing  # by number: 17.0 after 0.7
        await pilot.press("R")  # shift+r reverses; r resumes
        best = [table.raw_row(r)["best"] for r in table.row_ids]
        assert best == sorted(present, reverse=True) + [None] * missing, "missing stays last"


@async_test
async def test_delete_asks_first_and_removes_the_folder(tmp_path):
    runs_dir = tmp_path / "runs"
    write_run(runs_dir, A)
    write_run(runs_dir, B)
    async with _app(tmp_path).run_test(size=(80, 24)) as pilot:
        _screen, table = await _open_runs(pilot, expected_rows=2)
        table.move_cursor(row=table.get_row_index(A))
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), what="ask")
        await pilot.press("n")
        await pilot.pause()
        assert (runs_dir / A).is_dir() and table.row_count == 2

        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), what="ask")
        await pilot.press("y")
        await wait_for(pilot, lambda: table.row_ids == [B], what="the row to go")
        assert not (runs_dir / A).exists() and (runs_dir / B).is_dir()


@async_test
async def test_running_run_cannot_be_deleted(tmp_path):
    runs_dir = tmp_path / "runs"
    write_run(runs_dir, B, finish=False)
    async with _app(tmp_path).run_test(size=(80, 24)) as pilot:
        screen, _table = await _open_runs(pilot, expected_rows=1)
        await pilot.press("d")
        await pilot.pause()
        assert pilot.app.screen is screen, "no confirmation for a run that is still running"
        assert (runs_dir / B).is_dir()


@async_test
async def test_open_rerun_and_compare_use_the_app_api(tmp_path):
    runs_dir = tmp_path / "runs"
    write_run(runs_dir, A, lr=0.01)
    write_run(runs_dir, B, lr=0.001)
    app = _app(tmp_path)
    rerun: list[dict] = []
    compared: list[list[str]] = []
    app.edit_and_rerun = rerun.append
    app.open_compare = compared.append
    async with app.run_test(size=(80, 24)) as pilot:
        screen, table = await _open_runs(pilot, expected_rows=2)
        table.move_cursor(row=table.get_row_index(A))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen), what="detail")
        assert app.screen.run_id == A
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, what="back to Runs")

        await pilot.press("e")
        assert rerun and rerun[0]["lr"] == 0.01 and rerun[0]["dataset"] == "shapes"

        await pilot.press("c")  # nothing marked: refused
        assert compared == []
        await pilot.press("space", "up", "space", "c")  # the cursor was on A, the last row
        assert compared and sorted(compared[0]) == sorted([A, B])
        assert table.raw_row(A)["mark"] and table.raw_row(B)["mark"]


@async_test
async def test_palette_offers_open_and_rerun_for_each_run(tmp_path):
    runs_dir = tmp_path / "runs"
    write_run(runs_dir, A, lr=0.01)
    write_run(runs_dir, B, lr=0.001)
    app = _app(tmp_path)
    rerun: list[dict] = []
    app.edit_and_rerun = rerun.append
    async with app.run_test(size=(80, 24)) as pilot:
        screen, _table = await _open_runs(pilot, expected_rows=2)
        assert RunCommands in type(screen).COMMANDS
        provider = RunCommands(screen)
        await provider.startup()
        hits = [hit async for hit in provider.search("open aaaa")]
        assert hits and hits[0].text == f"Open run {A}"
        discovered = [hit.text async for hit in provider.discover()]
        assert discovered == [f"Open run {B}", f"Open run {A}"]  # newest first
        rerun_hits = [hit async for hit in provider.search("re-run bbbb")]
        rerun_hits[0].command()
        assert rerun and rerun[0]["lr"] == 0.001
        hits[0].command()
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen), what="detail")
        detail = app.screen
        await wait_for(pilot, lambda: detail.record is not None, what="the run to load")
        assert detail.record.run_id == A


def test_filter_terms_match_words_and_columns():
    row = {"status": "completed", "dataset": "vehicles", "model": "conv", "lr": 0.01}
    assert matches_filter(row, "")
    assert matches_filter(row, "VEHICLES conv")
    assert matches_filter(row, "data:veh status:comp")  # header names work too
    assert matches_filter(row, "dataset:vehicles lr:0.01")
    assert not matches_filter(row, "status:failed")
    assert not matches_filter(row, "conv resnet")


def test_cell_formats():
    assert format_value(None) == "—"
    assert format_value(0.000123) == "1.23e-04"
    assert format_value([1, 2, 5]) == "1,2,5"
    assert format_value(float("nan")) == "nan"
    assert format_duration(45) == "45s" and format_duration(185) == "3m05s"
    assert format_duration(7440) == "2h04m" and format_duration(None) == "—"


class _ConfirmApp(App):
    def __init__(self, **kwargs) -> None:
        super().__init__()
        self.answers: list[bool] = []
        self.kwargs = kwargs

    def ask(self) -> None:
        self.push_screen(ConfirmScreen("Delete it?", **self.kwargs), self.answers.append)


@async_test
async def test_confirm_modal_keys_and_safe_default():
    app = _ConfirmApp()
    async with app.run_test(size=(80, 24)) as pilot:
        for keys in (["y"], ["n"], ["escape"], ["enter"], ["right", "enter"]):
            app.ask()
            await pilot.pause()
            assert "Delete it?" in str(app.screen.query_one("#confirm-question").render())
            await pilot.press(*keys)
            await pilot.pause()
            assert not isinstance(app.screen, ConfirmScreen)
    # enter alone answers "no": a stray key never deletes anything.
    assert app.answers == [True, False, False, False, True]
