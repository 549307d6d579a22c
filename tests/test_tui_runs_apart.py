"""Runs tells runs apart (issue #14): the config fields that differ are columns at 80×24
and the shared ones one line above; 200×60 uses the room for more columns; `s` sorts by
any column or final metric and says so; a sweep is one group row that opens and closes,
and the palette finds it by name."""

from __future__ import annotations

import pytest
from textual.widgets import Static
from tui_helpers import async_test, wait_for
from tui_store_helpers import write_run

from cnnlab_tui.app import CnnlabApp
from cnnlab_tui.screens.compare import CompareScreen
from cnnlab_tui.screens.run_commands import RunCommands
from cnnlab_tui.screens.runs import RunsScreen
from engine.sweeps.grid import SweepPoint
from engine.sweeps.membership import write_membership

A = "20250101-120000-conv-shapes-aaaa"
B = "20250101-130000-conv-shapes-bbbb"
C = "20250101-140000-conv-shapes-cccc"
S0 = "20250102-100000-conv-shapes-s0s0"
S1 = "20250102-110000-conv-shapes-s1s1"
SWEEP = "sweep-lr-grid"


def _store(runs_dir, sweep: bool = False) -> None:
    # B and C differ only by optimizer and weight decay: today's 80 columns cut both.
    write_run(runs_dir, A, lr=0.01, epochs=2)
    write_run(runs_dir, B, lr=0.001, epochs=4, batch_size=32, weight_decay=0.0)
    write_run(runs_dir, C, lr=0.001, epochs=4, batch_size=32, optimizer="sgd", weight_decay=5e-4)
    if sweep:
        for index, lr in enumerate([0.1, 0.2]):
            run_dir = write_run(runs_dir, (S0, S1)[index], lr=lr, epochs=3)
            write_membership(run_dir, SWEEP, SweepPoint(index, {"lr": lr}, 0))


async def _runs(pilot, rows: int) -> RunsScreen:
    await pilot.press("f3")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunsScreen), what="Runs")
    screen = pilot.app.screen
    await wait_for(pilot, lambda: screen.table.row_count == rows, what=f"{rows} rows")
    await pilot.pause()
    return screen


async def _sort_by(pilot, table, column: str) -> None:
    """Press `s` until the table is sorted by `column` (a bounded number of times)."""
    for _ in range(40):
        if table.sort_column == column:
            return
        await pilot.press("s")
    raise AssertionError(f"s never sorted by {column}")


def _shown(screen: RunsScreen, row_id: str) -> list[str]:
    """The cells of one row as the table shows them."""
    table = screen.table
    return [str(table.get_cell(row_id, key)) for key in table.column_keys]


def _app(tmp_path) -> CnnlabApp:
    return CnnlabApp(data_root=tmp_path / "data", runs_dir=tmp_path / "runs")


@pytest.mark.parametrize("size", [(80, 24), (200, 60)])
@async_test
async def test_the_fields_that_differ_are_columns_and_fit(tmp_path, size):
    _store(tmp_path / "runs")
    async with _app(tmp_path).run_test(size=size) as pilot:
        screen = await _runs(pilot, rows=3)
        table = screen.table
        keys = table.column_keys
        for key in (
            "handle",
            "status",
            "best",
            "lr",
            "batch_size",
            "optimizer",
            "cfg:weight_decay",
        ):
            assert key in keys, f"{key} missing at {size}: {keys}"
        headers = [label for _, label in table.column_specs]
        assert {"lr", "bs", "opt", "wd"} <= set(headers)
        assert screen.differing == ["lr", "batch_size", "optimizer", "epochs", "weight_decay"]
        # Every row reads differently, and nothing essential is wider than the screen.
        shown = {run_id: tuple(_shown(screen, run_id)[1:]) for run_id in (A, B, C)}
        assert len(set(shown.values())) == 3
        assert "sgd" in shown[C] and "adam" in shown[B]
        assert table.virtual_size.width <= table.size.width, "columns cut at this size"
        assert table.size.width >= size[0] - 2
        keys_shown = [(k.region, k.description) for k in screen.query("FooterKey")]
        assert {"Mark", "Compare", "Name", "Sort", "Filter"} <= {d for _, d in keys_shown}
        spans = sorted((r.x, r.right) for r, _ in keys_shown)
        assert spans[-1][1] <= size[0], "a footer key is past the edge"
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False)), (
            "footer keys overlap"
        )
        common = str(screen.query_one("#runs-common", Static).render())
        assert common.startswith("all: data shapes · model conv")
        if size == (80, 24):
            assert "run_id" not in keys  # the full id waits for room
        else:  # a wide terminal gets the rest: when, how long, data set, model, full id
            assert {"started", "seconds", "dataset", "model", "run_id"} <= set(keys)
            assert table.size.height >= 50


@async_test
async def test_s_sorts_by_any_metric_and_says_which(tmp_path):
    _store(tmp_path / "runs")
    async with _app(tmp_path).run_test(size=(80, 24)) as pilot:
        screen = await _runs(pilot, rows=3)
        table = screen.table
        count = screen.query_one("#runs-count", Static)
        assert "final:test_loss" in screen.sortable  # final metrics, not only columns
        await _sort_by(pilot, table, "final:test_loss")
        assert "final:test_loss" in table.column_keys  # the metric sorted by is shown
        losses = [table.raw_row(r)["final:test_loss"] for r in table.row_ids]
        assert losses == sorted(losses) and losses[0] < losses[-1]
        assert "by test_loss ↑" in str(count.render())
        await pilot.press("R")
        losses = [table.raw_row(r)["final:test_loss"] for r in table.row_ids]
        assert losses == sorted(losses, reverse=True)
        assert "by test_loss ↓" in str(count.render())


@async_test
async def test_a_sweep_is_one_group_row_that_opens_and_closes(tmp_path):
    _store(tmp_path / "runs", sweep=True)
    async with _app(tmp_path).run_test(size=(80, 24)) as pilot:
        screen = await _runs(pilot, rows=4)  # A, B, C and one row for the sweep
        table = screen.table
        group = f"sweep:{SWEEP}"
        assert group in table.row_ids and S0 not in table.row_ids
        cells = _shown(screen, group)
        assert f"▸ {SWEEP}" in cells and "×2" in cells and "sweep" in cells
        assert table.raw_row(group)["best"] == pytest.approx(0.6)  # the better run's best

        table.move_cursor(row=table.get_row_index(group))
        await pilot.press("enter")  # opens: its runs right under it
        await wait_for(pilot, lambda: table.row_count == 6, what="the sweep open")
        index = table.row_ids.index(group)
        assert set(table.row_ids[index + 1 : index + 3]) == {S0, S1}
        assert f"▾ {SWEEP}" in _shown(screen, group)
        await _sort_by(pilot, table, "best")  # sorting keeps the runs under their group
        index = table.row_ids.index(group)
        assert set(table.row_ids[index + 1 : index + 3]) == {S0, S1}

        table.move_cursor(row=table.get_row_index(group))
        await pilot.press("space")  # marks the sweep's runs
        assert sorted(screen.marked) == [S0, S1]
        await pilot.press("enter")  # closes
        await wait_for(pilot, lambda: table.row_count == 4, what="the sweep closed")
        await pilot.press("c")  # the marked runs go to Compare
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, CompareScreen), what="F4")
        assert sorted(pilot.app.screen.selected_ids) == [S0, S1]


@async_test
async def test_the_palette_finds_a_sweep_by_name(tmp_path):
    _store(tmp_path / "runs", sweep=True)
    app = _app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _runs(pilot, rows=4)
        await pilot.press("f4")  # from another screen: Compare's palette has the run commands
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), what="Compare")
        assert RunCommands in type(app.screen).COMMANDS
        provider = RunCommands(app.screen)
        await provider.startup()
        hits = [hit async for hit in provider.search("lr-grid")]
        texts = [hit.text for hit in hits]
        assert f"Show sweep {SWEEP}" in texts and f"Compare sweep {SWEEP}" in texts
        show = hits[texts.index(f"Show sweep {SWEEP}")]
        show.command()
        await wait_for(pilot, lambda: app.screen is screen, what="Runs")
        await wait_for(pilot, lambda: S0 in screen.table.row_ids, what="the sweep opened")
        assert screen.table.selected_id == f"sweep:{SWEEP}"


@async_test
async def test_columns_follow_a_resize(tmp_path):
    _store(tmp_path / "runs")
    async with _app(tmp_path).run_test(size=(80, 24)) as pilot:
        screen = await _runs(pilot, rows=3)
        assert "run_id" not in screen.table.column_keys
        await pilot.resize_terminal(200, 60)
        await wait_for(pilot, lambda: "run_id" in screen.table.column_keys, what="wide columns")
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: "run_id" not in screen.table.column_keys, what="narrow")
        assert "cfg:weight_decay" in screen.table.column_keys
        assert screen.table.virtual_size.width <= screen.table.size.width
