"""A metrics.jsonl whose last line was cut short (a process killed mid-write): the finished
epochs are kept and the cut line is reported, in `cnnlab show` and on the Run detail screen;
a run that says completed but has no readable epoch is damaged."""

from __future__ import annotations

import json

from textual.widgets import Static
from tui_helpers import async_test, wait_for
from tui_store_helpers import write_run

from cnnlab_tui.app import CnnlabApp
from cnnlab_tui.screens.detail import DetailScreen
from engine.cli import main
from engine.runs import read_run

A = "20250101-120000-conv-shapes-aaaa"


def _torn(runs):
    run_dir = write_run(runs, A, epochs=3)
    with open(run_dir / "metrics.jsonl", "a") as handle:
        handle.write('{"epoch": 4, "test_')
    return run_dir


def test_show_warns_about_a_torn_last_line(tmp_path, capsys):
    run_dir = _torn(tmp_path / "runs")
    record = read_run(run_dir)
    assert record.damaged is None and len(record.metrics) == 3
    assert main(["show", A, "--runs-dir", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out.replace("\n", " ")
    assert "warning:" in out and "metrics.jsonl ends in a line cut short (line 4" in out


@async_test
async def test_run_detail_warns_about_a_torn_last_line(tmp_path):
    _torn(tmp_path / "runs")
    app = CnnlabApp(data_root=tmp_path / "data", runs_dir=tmp_path / "runs")
    async with app.run_test(size=(120, 32)) as pilot:
        app.open_detail(A)
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen), what="detail")
        screen = app.screen
        await wait_for(pilot, lambda: screen.record is not None, what="the run to load")
        title = str(screen.query_one("#detail-title", Static).render())
        assert "cut short" in title


def test_a_completed_run_without_a_readable_epoch_is_damaged(tmp_path):
    run_dir = write_run(tmp_path / "runs", A, epochs=2)
    (run_dir / "metrics.jsonl").write_text('{"epoch": 1, "test_')  # only a torn line
    record = read_run(run_dir)
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"
    assert record.status == "damaged" and "no readable epoch" in record.damaged
