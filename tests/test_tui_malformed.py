"""The dashboard on run files with malformed fields (property-based, Textual pilot): the
Runs table lists every run — the bad ones as damaged with the reason — and the Run detail
and Compare screens open on them, without the app crashing.

Each example writes a few runs whose summary / config / metrics field holds any JSON value
(or whose file holds random bytes) beside an intact run, and walks the three screens.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_runs_malformed import JSON_VALUES, METRIC_KEYS, SUMMARY_KEYS
from textual.widgets import Static
from tui_helpers import async_test, open_runs, wait_for
from tui_store_helpers import write_run

from cnnlab_tui.app import CnnlabApp
from cnnlab_tui.screens.compare import CompareScreen
from cnnlab_tui.screens.detail import DetailScreen
from engine.runs import read_run
from engine.trainer.config import config_fields

GOOD = "20250101-100000-conv-shapes-good"
CONFIG_KEYS = [f.name for f in config_fields()]

DAMAGE = st.one_of(
    st.tuples(st.just("summary.json"), st.sampled_from(SUMMARY_KEYS), JSON_VALUES),
    st.tuples(st.just("config.json"), st.sampled_from(CONFIG_KEYS), JSON_VALUES),
    st.tuples(st.just("metrics.jsonl"), st.sampled_from(METRIC_KEYS), JSON_VALUES),
    st.tuples(
        st.sampled_from(["summary.json", "config.json", "metrics.jsonl"]),
        st.just(None),
        st.binary(max_size=200),
    ),
)


def _damage(run_dir, name, key, value) -> None:
    path = run_dir / name
    if key is None:
        path.write_bytes(value)
    elif name == "metrics.jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        rows[-1][key] = value
        path.write_text("".join(json.dumps(r, allow_nan=True) + "\n" for r in rows))
    else:
        data = json.loads(path.read_text())
        data[key] = value
        path.write_text(json.dumps(data, allow_nan=True))


def _write_store(runs_dir, damages) -> list[str]:
    write_run(runs_dir, GOOD, lr=0.01)
    bad_ids = []
    for number, (name, key, value) in enumerate(damages):
        run_id = f"20250102-00000{number}-conv-shapes-bad{number}"
        task = "dehaze" if number % 2 else "classify"
        _damage(write_run(runs_dir, run_id, task=task, samples=1 if task == "dehaze" else 0),
                name, key, value)  # fmt: skip
        bad_ids.append(run_id)
    return bad_ids


async def _walk(app, pilot, bad_ids: list[str], tabs: bool = False) -> None:
    runs = await open_runs(app, pilot)
    table = runs.query_one("#runs-table")
    await wait_for(pilot, lambda: table.row_count == len(bad_ids) + 1, what="every run listed")
    info = runs.query_one("#run-info", Static)
    for run_id in bad_ids:
        table.move_cursor(row=table.get_row_index(run_id))
        await pilot.pause()
        record = read_run(app.runs_dir / run_id)
        if record.damaged:
            assert table.raw_row(run_id)["status"] == "damaged"
            assert "damaged" in str(info.render())
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen), what="detail")
        detail = app.screen
        await wait_for(pilot, lambda d=detail: d.record is not None, what="the run to load")
        if tabs:
            await pilot.press("ctrl+t", "ctrl+t", "ctrl+t")  # through the tabs
            await pilot.pause()
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is runs, what="back to Runs")
    for run_id in (*bad_ids, GOOD):
        table.move_cursor(row=table.get_row_index(run_id))
        await pilot.press("space")
    await pilot.press("c")
    await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), what="compare")
    compare = app.screen
    await wait_for(pilot, lambda: len(compare.selected_records) >= 1, what="compare loaded")
    await pilot.press("m", "g")
    await pilot.pause(0.2)
    assert app.is_running


@pytest.mark.slow
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(damages=st.lists(DAMAGE, min_size=1, max_size=3))
def test_dashboard_lists_and_opens_runs_with_any_malformed_field(tmp_path_factory, damages):
    root = tmp_path_factory.mktemp("tui-malformed")
    bad_ids = _write_store(root / "runs", damages)

    @async_test
    async def scenario() -> None:
        app = CnnlabApp(data_root=root / "data", runs_dir=root / "runs")
        async with app.run_test(size=(100, 32)) as pilot:
            await _walk(app, pilot, bad_ids)

    scenario()


def test_the_issue_fields_list_as_damaged_on_the_runs_screen(tmp_path):
    """`"best": "x"`, `"train_seconds": "slow"`, `"per_class_acc": 5`, `"classes": 7`,
    `"final": [1]`: each used to end the app with a traceback on the Runs screen."""
    cases = [("best", "x"), ("train_seconds", "slow"), ("per_class_acc", 5), ("classes", 7),
             ("final", [1])]  # fmt: skip
    bad_ids = _write_store(tmp_path / "runs", [("summary.json", k, v) for k, v in cases])

    @async_test
    async def scenario() -> None:
        app = CnnlabApp(data_root=tmp_path / "data", runs_dir=tmp_path / "runs")
        async with app.run_test(size=(100, 32)) as pilot:
            await _walk(app, pilot, bad_ids, tabs=True)  # damaged records show as damaged

    for run_id, (key, _) in zip(bad_ids, cases, strict=True):
        assert f"'{key}'" in (read_run(tmp_path / "runs" / run_id).damaged or ""), key
    scenario()
