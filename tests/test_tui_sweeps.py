"""Sweeps in the dashboard: lists in New run fields launch a sweep that queues like a run
(`sweep k/N`), Compare groups it by setting (mean ± std), and `x` writes the lab report.

Every test trains for real in a background engine (tiny runs on `shapes`).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from textual.css.query import NoMatches
from textual.widgets import DataTable, Input, RadioButton
from tui_helpers import (
    async_test,
    fill_form,
    form_field,
    open_new_run,
    tiny_config,
    type_into,
    wait_for,
)

from cnnlab_tui.app import CnnlabApp
from cnnlab_tui.queue_items import QueuedSweep
from cnnlab_tui.screens.compare import CompareScreen
from cnnlab_tui.screens.export import ExportScreen, default_out_dir, report_command
from cnnlab_tui.screens.live import LiveScreen
from cnnlab_tui.screens.runs import RunsScreen
from cnnlab_tui.widgets.charts import BAND_LEGEND
from engine.events import EpochEnd, RunFinished, RunStarted
from engine.runs import RunStore
from engine.sweeps import (
    PointFinished,
    PointStarted,
    SweepFinished,
    SweepStarted,
    aggregate_sweep,
    group_runs_by_sweep,
    read_membership,
)

TINY_SWEEP_FORM = {
    "dataset": "shapes",
    "image_size": 16,
    "option-widths": "4, 8",
    "epochs": 1,
    "batch_size": 32,
    "max_train_batches": 2,
    "device": "cpu",
}


def cells(table: DataTable) -> dict[str, list[str]]:
    rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
    return {row[0]: row[1:] for row in rows}


def headers(table: DataTable) -> list[str]:
    return [str(column.label) for column in table.columns.values()]


def queue_states(app: CnnlabApp) -> set[str]:
    """The state cells of the Live screen's queue table right now."""
    if not isinstance(app.screen, LiveScreen):
        return set()
    try:
        table = app.screen.query_one("#queue", DataTable)
    except NoMatches:  # the Live screen is still composing its widgets
        return set()
    return {str(table.get_row_at(i)[1]) for i in range(table.row_count)}


@pytest.mark.slow
@async_test
async def test_sweep_from_the_form_runs_groups_in_compare_and_exports_a_report(
    tmp_path, monkeypatch, own_engine
):
    # Record every state the Live queue table is drawn with: polling alone can miss the
    # intermediate "sweep k/N" rows when the tiny sweep finishes between two polls.
    drawn: set[str] = set()
    original_show_queue = LiveScreen._show_queue

    def recording_show_queue(self: LiveScreen) -> None:
        original_show_queue(self)
        table = self.query_one("#queue", DataTable)
        drawn.update(str(table.get_row_at(i)[1]) for i in range(table.row_count))

    monkeypatch.setattr(LiveScreen, "_show_queue", recording_show_queue)
    runs_dir = own_engine
    app = CnnlabApp(data_root=tmp_path, runs_dir=runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_new_run(app, pilot)
        fill_form(form, TINY_SWEEP_FORM)
        await type_into(pilot, form, "lr", "1e-2, 1e-3")
        await type_into(pilot, form, "seeds", "2")
        status = form.query_one("#launch-status")
        await wait_for(pilot, lambda: "= 4 runs" in str(status.render()), what="sweep plan")
        assert form_field(form, "lr").error is None

        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.current_mode == "live", what="Live screen")
        seen: set[str] = set()

        def finished() -> bool:
            seen.update(queue_states(app))
            return bool(app.runner.runs) and app.runner.runs[0].state == "finished"

        await wait_for(pilot, finished, timeout=150, what="the sweep to finish")
        sweep = app.runner.runs[0]
        assert isinstance(sweep, QueuedSweep)
        assert (sweep.status, sweep.done, sweep.total) == ("completed", 4, 4), sweep.error
        seen |= drawn
        assert any(re.fullmatch(r"sweep [123]/4", state) for state in seen), seen
        await pilot.pause()
        assert queue_states(app) == {"completed 4/4"}

        records = RunStore(runs_dir).list_runs()
        assert len(records) == 4
        assert {read_membership(r)[0] for r in records} == {sweep.sweep_id}
        assert sorted((r.config["lr"], r.config["seed"]) for r in records) == [
            (0.001, 0), (0.001, 1), (0.01, 0), (0.01, 1),
        ]  # fmt: skip

        app.open_compare([sweep.sweep_id])
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), what="Compare")
        compare = app.screen
        await wait_for(pilot, lambda: compare.grouped is not None, what="grouped view")
        final = compare.query_one("#final-table", DataTable)
        assert headers(final) == ["metric (mean ± std)", "1:lr=0.01", "2:lr=0.001"]
        expected = aggregate_sweep(group_runs_by_sweep(records)[0])
        test_acc = cells(final)["test_acc"]
        for cell, setting in zip(test_acc, expected, strict=True):
            assert cell == setting.final["test_acc"].format(digits=4) and " ± " in cell
        assert cells(compare.query_one("#diff-table", DataTable))["runs"] == ["2", "2"]
        chart = compare.query_one("#compare-chart")
        assert list(chart.series) == ["1:lr=0.01", "2:lr=0.001"]
        curve = expected[0].curves[compare.metric]
        _, lower, upper = chart.bands["1:lr=0.01"]
        assert lower == pytest.approx([m - s for m, s in zip(curve.mean, curve.std, strict=True)])
        assert upper == pytest.approx([m + s for m, s in zip(curve.mean, curve.std, strict=True)])

        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen), what="export dialog")
        dialog = app.screen
        assert str(dialog.query_one("#export-folder", Input).value).startswith(
            str(runs_dir.parent / "reports")  # beside the runs folder, never in it
        )
        dialog.query_one("#lang-zh", RadioButton).value = True
        dialog.query_one("#export-folder", Input).value = str(tmp_path / "report")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.last_report is not None, timeout=90, what="report")
        report = Path(app.last_report)
        assert report == tmp_path / "report" / "report.md"
        text = report.read_text(encoding="utf-8")
        assert re.search(r"[\u4e00-\u9fff]", text), "the report should be in Chinese"
        figures = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", text)
        assert figures and all((report.parent / name).is_file() for name in figures)
        assert app.report_lang == "zh"


@async_test
async def test_a_sweep_waits_behind_a_run_and_cancel_stops_it(tmp_path, runs):
    from engine.runs import RunStore
    from engine.trainer.config import TrainConfig

    app = CnnlabApp(data_root=tmp_path, runs_dir=runs)
    async with app.run_test(size=(100, 30)) as pilot:
        config = TrainConfig(**tiny_config(tmp_path, epochs=500))
        run = (await asyncio.to_thread(app.runner.submit_run, config))["queue_id"]
        form = await open_new_run(app, pilot)
        fill_form(form, dict(TINY_SWEEP_FORM, lr="0.01, 0.001", seeds="2", epochs=500))
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.current_mode == "live", what="Live screen")
        await wait_for(pilot, lambda: len(app.runner.runs) == 2, what="both entries")
        sweep_id = next(r.queue_id for r in app.runner.runs if r.queue_id != run)
        await wait_for(pilot, lambda: app.runner.get(run).state == "running", what="the run")
        await pilot.pause(0.1)
        assert app.runner.get(sweep_id).state == "queued"  # one job at a time per device
        assert queue_states(app) == {"running", "sweep 0/4"}

        await asyncio.to_thread(app.runner.cancel, run)
        await wait_for(pilot, lambda: app.runner.get(sweep_id).run_id, timeout=60,
                       what="the first point")  # fmt: skip
        assert app.runner.current.queue_id == sweep_id
        await pilot.press("c")
        await pilot.press("y")
        await wait_for(pilot, lambda: app.runner.get(sweep_id).state == "finished", timeout=60,
                       what="end")  # fmt: skip
        sweep = app.runner.get(sweep_id)
        assert (sweep.status, sweep.done) == ("cancelled", 0)
        store = RunStore(runs)
        assert store.get(sweep.run_id).status == "cancelled"  # the first point, cancelled
        await pilot.pause()
        assert "cancelled 0/4" in queue_states(app)
        assert not app.runner.active


@async_test
async def test_lists_and_seeds_are_checked_under_their_fields(tmp_path):
    app = CnnlabApp(data_root=tmp_path, runs_dir=tmp_path / "runs")
    async with app.run_test(size=(100, 30)) as pilot:
        form = await open_new_run(app, pilot)
        fill_form(form, TINY_SWEEP_FORM)
        status = form.query_one("#launch-status")

        async def error_of(key: str, text: str) -> str | None:
            form_field(form, key).set_value(text)
            await pilot.pause()
            await wait_for(pilot, lambda: not form.checking, timeout=20,
                           what="the engine's check of the edit")  # fmt: skip
            await pilot.pause()
            return form_field(form, key).error

        assert "must be a number, got 'fast'" in await error_of("lr", "1e-2, fast")
        assert "-1: must be a number above 0" in await error_of("lr", "1e-3, -1")
        assert await error_of("lr", "1e-3, 1e-2") is None
        assert "repeated seed" in await error_of("seeds", "0, 0")
        assert "Seeds" in await error_of("seed", "0, 1")
        assert await error_of("seed", "0") is None
        assert await error_of("seeds", "3") is None
        assert await error_of("option-widths", "[4,8], [8,16]") is None
        assert "lr × 2, model.widths × 2, 3 seeds = 12 runs" in str(status.render())

        form_field(form, "lr").set_value("abc, 1")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.runner.runs == [] and app.current_mode == "new_run"
        assert "Not launched" in str(status.render())


def test_queued_sweep_follows_its_points():
    sweep = QueuedSweep("q1", {"model": "conv", "dataset": "shapes"}, "cpu", total=2)
    assert sweep.state_text == "sweep 0/2" and sweep.label == "sweep conv on shapes"
    sweep.apply(SweepStarted("s", 2, 0, 1))
    sweep.apply(PointStarted("s", 0, "lr=0.01", 0, 0, 2, "run-a"))
    sweep.apply(RunStarted("run-a", {}, "/r/run-a", "classify", "cpu", 10, [], 4, 2, 1))
    sweep.apply(EpochEnd("run-a", 1, {"epoch": 1, "test_acc": 0.5}))
    sweep.apply(RunFinished("run-a", "completed", None, {"final": {}}))
    assert sweep.state == "running" and sweep.metrics  # one point ended, the sweep goes on
    sweep.apply(PointFinished("s", 0, "run-a", "completed", None, 1, 2))
    assert sweep.state_text == "sweep 1/2"
    sweep.apply(PointStarted("s", 1, "lr=0.001", 0, 1, 2, "run-b"))
    assert sweep.metrics == [] and sweep.run_id == "run-b"  # Live starts the new point clean
    assert sweep.label == "sweep conv on shapes [lr=0.001 seed=0]"
    sweep.apply(PointFinished("s", 1, "run-b", "failed", "NaN loss", 1, 2))
    sweep.apply(SweepFinished("s", "incomplete", 1, 1, 2, ["run-a", "run-b"]))
    assert (sweep.state, sweep.state_text) == ("finished", "incomplete 1/2")
    assert sweep.error == "1 run(s) failed"
    assert any("NaN loss" in line for line in sweep.logs)


def test_report_folder_and_command(tmp_path):
    from datetime import datetime

    out = default_out_dir(tmp_path / "runs", datetime(2025, 3, 4, 5, 6, 7))
    assert out == tmp_path / "reports" / "20250304-050607"
    line = report_command(["sweep-x", "run 1"], out, "zh", tmp_path)
    assert line == f"cnnlab report sweep-x 'run 1' --out {out} --lang zh --runs-dir {tmp_path}"


@async_test
async def test_runs_export_offers_the_highlighted_runs_sweep(tmp_path):
    from tui_store_helpers import write_run

    from engine.sweeps.grid import SweepPoint
    from engine.sweeps.membership import stamp_summary

    runs_dir = tmp_path / "runs"
    for index, (lr, seed) in enumerate([(0.01, 0), (0.01, 1)]):
        run_dir = write_run(runs_dir, f"20250101-12000{index}-conv-shapes-{index}", lr=lr)
        stamp_summary(run_dir, "sweep-conv-abc", SweepPoint(index, {"lr": lr}, seed))
    app = CnnlabApp(data_root=tmp_path, runs_dir=runs_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), what="Runs")
        table = app.screen.query_one("#runs-table")
        await wait_for(pilot, lambda: table.row_count == 1, what="the sweep's group row")
        info = app.screen.query_one("#run-info")
        assert "sweep sweep-conv-abc · enter: open" in str(info.render())
        await pilot.press("enter")  # open the group: each of its runs offers the sweep too
        await wait_for(pilot, lambda: table.row_count == 3, what="its two runs")
        await pilot.press("down")
        assert "w: sweep sweep-conv-abc" in str(info.render())
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen), what="dialog")
        assert str(app.screen.query_one("#export-what").render()) == "sweep sweep-conv-abc"
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), what="back")
        assert app.last_report is None
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), what="Compare")
        compare = app.screen
        await wait_for(pilot, lambda: len(compare.selected_records) == 2, what="its runs")
        assert compare.grouped is not None and len(compare.grouped.aggregates) == 1
        chart = compare.query_one("#compare-chart")
        assert list(chart.bands) == ["1:lr=0.01"] and BAND_LEGEND.startswith("±1 std")
        await pilot.press("g")  # one column per run instead
        assert compare.grouped is None
        assert len(headers(compare.query_one("#final-table", DataTable))) == 3


def test_form_sweep_keeps_the_preset_and_sweeps_a_list_option():
    from cnnlab_tui.screens.new_run_fields import preset_config
    from cnnlab_tui.sweep_launch import SweepForm, build_sweep, first_values, parse_axis
    from engine.sweeps import planned_configs
    from engine.trainer.config import TrainConfig

    config = TrainConfig(**{**preset_config("quick-shapes"), "lr": 0.01, "device": "cpu",
                            "seed": 3})  # fmt: skip  # the form's one TrainConfig
    axis = parse_axis("option-widths", "[4,8], [8,16]", config.model)
    assert (axis.grid_key, axis.values) == ("model.widths", [[4, 8], [8, 16]])
    form = SweepForm([axis], seeds=[3, 4])
    spec = build_sweep(first_values(config, form.axes), form)
    assert spec.preset == "quick-shapes" and spec.grid == {"model.widths": [[4, 8], [8, 16]]}
    # the base is the form's config, with the seed and the swept option as the preset has
    # them (the same sweep, and id, as `cnnlab sweep --preset quick-shapes …` gives)
    assert (spec.base.lr, spec.base.seed, spec.base.model_options) == (0.01, 0, {"widths": [8, 16]})
    assert spec.sweep_id == "sweep-quick-shapes-83f9721686"  # as before specs held a config
    planned = [cfg for _, cfg in planned_configs(spec)]
    assert [(c.model_options["widths"], c.seed) for c in planned] == [
        ([4, 8], 3), ([4, 8], 4), ([8, 16], 3), ([8, 16], 4),
    ]  # fmt: skip
    assert {(c.lr, c.device, c.image_size, c.epochs) for c in planned} == {(0.01, "cpu", 24, 2)}
    assert build_sweep(first_values(config, form.axes), form).sweep_id == spec.sweep_id


def test_a_sweep_announces_itself_and_only_its_runs_that_go_wrong():
    from cnnlab_tui.notices import notice_for

    label = "sweep conv on shapes [model.widths=[4,8] seed=0]"
    started = RunStarted("r", {}, "/r", "classify", "cpu", 1, [], 1, 1, 1)
    assert notice_for(started, label, in_sweep=True) is None
    assert notice_for(started, "conv on shapes").message == "Run started: conv on shapes"
    assert notice_for(RunFinished("r", "completed", None, {}), label, in_sweep=True) is None
    failed = notice_for(RunFinished("r", "failed", "loss is NaN", {}), label, in_sweep=True)
    assert failed.severity == "error" and failed.message.endswith("[4,8] seed=0]\nloss is NaN")
    done = notice_for(SweepFinished("sweep-x", "completed", 4, 0, 4), label)
    assert done.severity == "information" and done.message.startswith("Sweep completed: 4/4")
    partial = notice_for(SweepFinished("sweep-x", "incomplete", 3, 1, 4), label)
    assert partial.severity == "error" and "1 run(s) failed" in partial.message
