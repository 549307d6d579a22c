"""The dashboard's report export (`x`) lands beside the runs folder: the Runs list, the
compare picker and `latest` never take a report for a run."""

from __future__ import annotations

from pathlib import Path

from tui_helpers import async_test, open_runs, wait_for
from tui_store_helpers import write_run

from cnnlab_tui.app import CnnlabApp
from cnnlab_tui.screens.export import ExportScreen
from engine.cli import main

A = "20250101-120000-conv-shapes-aaaa"


@async_test
async def test_an_exported_report_is_never_listed_as_a_run(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs, A)
    app = CnnlabApp(data_root=tmp_path / "data", runs_dir=runs)
    async with app.run_test(size=(100, 30)) as pilot:
        runs_screen = await open_runs(app, pilot)
        table = runs_screen.query_one("#runs-table")
        await wait_for(pilot, lambda: table.row_count == 1, what="the run")
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen), what="export")
        await pilot.press("ctrl+s")  # the default folder
        await wait_for(pilot, lambda: app.last_report is not None, timeout=90, what="report")
        report = Path(app.last_report)
        assert report.parent.parent == tmp_path / "reports" and report.is_file()
        runs_screen.reload()
        await pilot.pause(0.5)
        assert table.row_ids == [A], "the report is not a run"
    assert main(["show", "latest", "--runs-dir", str(runs)]) == 0
    assert sorted(p.name for p in runs.iterdir()) == [A]
