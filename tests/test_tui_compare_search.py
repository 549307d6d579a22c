"""Compare shows a search that learns (Optuna): pick it, and the Search tab gives its best
trial, the objective of every trial and the settings' importance — the figures
`read_search` (and so `cnnlab sweeps SEARCH`) gives, from a real search on `shapes`."""

from __future__ import annotations

import pytest
from engine_helpers import tiny_config
from textual.widgets import DataTable, SelectionList, Static, TabbedContent
from tui_helpers import async_test, wait_for

from cnnlab_tui.app import CnnlabApp
from cnnlab_tui.screens.compare import CompareScreen
from cnnlab_tui.widgets.search_panel import HINT, SearchPanel
from engine.runs.describe import metric_text

pytest.importorskip("optuna", reason="searches need the 'search' extra (optuna)")


def _search(runs):
    """A finished 3-trial search over lr and batch size (values enqueued: no luck needed)."""
    import optuna

    from engine.sweeps.search import build_search, study_url
    from engine.sweeps.search_results import read_search
    from engine.sweeps.search_runner import SearchRunner
    from engine.trainer.config import FieldRange, TrainConfig

    base = TrainConfig(**tiny_config(epochs=1, val_fraction=0.2, max_train_batches=3))
    space = {"lr": FieldRange(1e-4, 1e-1, True), "batch_size": [16, 50]}
    spec = build_search(base, space, trials=3, objective="val_loss", prune=False)
    (runs / "sweeps" / spec.search_id).mkdir(parents=True)
    study = optuna.create_study(
        study_name=spec.search_id, storage=study_url(runs, spec.search_id), direction="minimize"
    )
    for lr, batch in ((1e-2, "16"), (1e-4, "50"), (3e-3, "16")):
        study.enqueue_trial({"lr": lr, "batch_size": batch})
    assert SearchRunner(spec, runs).run().status == "completed"
    return read_search(runs, spec.search_id, importance=True)


def _rows(table: DataTable) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


@async_test
async def test_a_picked_search_shows_its_best_trial_each_objective_and_importance(
    tmp_path, one_thread
):
    runs = tmp_path / "runs"
    expected = _search(runs)
    app = CnnlabApp(data_root=tmp_path / "data", runs_dir=runs)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("f4")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, CompareScreen), what="compare")
        screen = pilot.app.screen
        picker = screen.query_one("#picker", SelectionList)
        await wait_for(pilot, lambda: picker.option_count == 4, what="the search and 3 runs")
        panel = screen.query_one(SearchPanel)
        best = screen.query_one("#search-best", Static)
        assert str(best.render()) == HINT  # nothing picked yet
        picker.focus()
        await pilot.press("space")  # the search is listed first, as a sweep
        await wait_for(pilot, lambda: panel.result is not None, what="the study read")
        for _ in range(4):
            await pilot.press("ctrl+t")
        assert screen.query_one("#compare-tabs", TabbedContent).active == "tab-search"

        line = str(best.render())
        assert f"best #{expected.best.number}" in line and "3/3 trials" in line
        assert expected.best.run_id in line
        trials = _rows(screen.query_one("#search-trials", DataTable))
        assert [row[0].lstrip("★") for row in trials] == ["#0", "#1", "#2"]
        assert [row[1] for row in trials] == ["completed"] * 3
        assert trials[expected.best.number][0].startswith("★")
        for row, trial in zip(trials, expected.trials, strict=True):  # as cnnlab sweeps says
            assert row[2] == metric_text("val_loss", trial.value) and row[4] == trial.run_id
        assert "batch_size=16" in trials[0][3] and "lr=0.01" in trials[0][3]
        importance = _rows(screen.query_one("#search-importance", DataTable))
        if expected.importance:
            assert {row[0] for row in importance} == set(expected.importance)
        else:
            assert importance == []
            note = str(screen.query_one("#search-importance-title", Static).render())
            assert note == expected.importance_note

        await pilot.press("ctrl+t")  # back to the picker: unpick, the hint returns
        picker.focus()
        await pilot.press("space")
        await wait_for(pilot, lambda: panel.result is None, what="the hint")
        assert str(best.render()) == HINT
