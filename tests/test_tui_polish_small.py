"""Small things a newcomer trips on (issue #14, point 8): a dehazing model is not described
with classes; "Queued as …" beside Launch follows its entry to the end; the Metrics tab
shows balanced accuracy from metrics.jsonl; a list with a word in a number field names the
word — in the form and through the CLI's `--grid`, one parser serving all."""

from __future__ import annotations

import json

import pytest
from textual.widgets import DataTable
from tui_helpers import (
    TINY_FORM,
    async_test,
    fill_form,
    form_field,
    open_new_run,
    type_into,
    wait_for,
)
from tui_store_helpers import write_run

from cnnlab_tui.app import CnnlabApp
from cnnlab_tui.screens.detail import DetailScreen
from engine.cli import build_parser
from engine.cli.sweep_cmd import build_spec_from_args
from engine.errors import ConfigError
from engine.sweeps import parse_grid_values

RUN = "20250101-120000-conv-shapes-aaaa"


def _status(screen, selector: str) -> str:
    return str(screen.query_one(selector).render())


@async_test
async def test_a_dehazing_model_is_described_without_classes(tmp_path):
    app = CnnlabApp(data_root=tmp_path, runs_dir=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_new_run(app, pilot)
        model_status = screen.query_one("#model-status")
        await wait_for(pilot, lambda: "classes" in str(model_status.render()), what="conv")
        form_field(screen, "dataset").set_value("haze_synth")
        form_field(screen, "model").set_value("dehaze_conv")
        await wait_for(pilot, lambda: "image in, image out" in _status(screen, "#model-status"),
                       what="the dehazing model's size")  # fmt: skip
        text = _status(screen, "#model-status")
        assert "parameters" in text and "classes" not in text
        assert form_field(screen, "model").error is None


@pytest.mark.slow
@async_test
async def test_queued_as_follows_its_entry_until_the_run_ends(tmp_path, own_engine):
    app = CnnlabApp(data_root=tmp_path, runs_dir=own_engine)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_new_run(app, pilot)
        fill_form(screen, TINY_FORM)
        await wait_for(pilot, lambda: not screen.checking, what="the form's check")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.current_mode == "live", timeout=120, what="Live")
        [entry] = app.runner.submitted
        assert entry.queue_id in _status(screen, "#launch-status")  # queued, or starting
        await wait_for(pilot, lambda: entry.state == "finished", timeout=180, what="the run")
        await wait_for(pilot, lambda: "ended" in _status(screen, "#launch-status"),
                       what="the line beside Launch to follow")  # fmt: skip
        app.switch_mode("new_run")
        await pilot.pause()
        shown = _status(app.screen, "#launch-status")
        assert shown == f"{entry.queue_id} ended: completed"
        assert "Queued" not in shown


@async_test
async def test_metrics_tab_shows_balanced_accuracy_from_metrics_jsonl(tmp_path):
    run_dir = write_run(tmp_path / "runs", RUN, epochs=2)
    path = run_dir / "metrics.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for row, balanced in zip(rows, (0.35, 0.45), strict=True):
        row["test_balanced_acc"] = balanced
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    app = CnnlabApp(data_root=tmp_path / "data", runs_dir=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_detail(RUN)
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen), what="detail")
        screen = app.screen
        await wait_for(pilot, lambda: screen.record is not None, what="the run to load")
        await pilot.pause()
        table = screen.query_one("#metrics-table", DataTable)
        cells = {str(table.get_row_at(i)[0]): [str(c) for c in table.get_row_at(i)[1:]]
                 for i in range(table.row_count)}  # fmt: skip
        # best epoch is 2 (test_acc 0.5): balanced accuracy there, and at the last epoch.
        assert cells["test_balanced_acc"] == ["0.45", "0.45"]
        assert cells["test_acc"] == ["0.5", "0.5"]


@async_test
async def test_a_word_in_a_number_list_is_named_in_the_form(tmp_path):
    app = CnnlabApp(data_root=tmp_path, runs_dir=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_new_run(app, pilot)
        await type_into(pilot, screen, "lr", "1e-3,abc")
        await wait_for(pilot, lambda: form_field(screen, "lr").error is not None, what="lr")
        error = form_field(screen, "lr").error
        assert error == "must be a number, got 'abc'"
        assert "could not convert" not in error


def test_a_word_in_a_number_list_is_named_by_the_cli_grid(capsys):
    with pytest.raises(ConfigError) as grid:
        parse_grid_values("lr", "1e-3,abc")
    assert grid.value.errors == {"grid lr": "must be a number, got 'abc'"}
    args = build_parser().parse_args(["sweep", "--grid", "lr=1e-3,abc"])
    with pytest.raises(ConfigError) as cli:
        build_spec_from_args(args)
    assert cli.value.errors == {"grid lr": "must be a number, got 'abc'"}
    with pytest.raises(SystemExit):  # a single-value flag: the whole text is the item
        build_parser().parse_args(["train", "--lr", "1e-3,abc"])
    err = capsys.readouterr().err
    assert "argument --lr: must be a number, got '1e-3,abc'" in err
    assert "could not convert" not in err
