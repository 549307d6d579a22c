"""The New run form's search (Optuna): ranges and lists typed in number fields, the trials
and the objective become the engine's SearchSpec — the very search (same id) the command
line builds from the same text —, every refusal lands under the field that caused it, and
a search launched from the form (pilot) trains its trials and shows in Compare."""

from __future__ import annotations

import pytest
from tui_helpers import (
    TINY_FORM,
    async_test,
    fill_form,
    form_field,
    open_new_run,
    type_into,
    wait_for,
)

from cnnlab_tui import search_launch
from cnnlab_tui.app import CnnlabApp
from cnnlab_tui.screens.compare import CompareScreen
from cnnlab_tui.search_launch import OBJECTIVE_KEY, TRIALS_KEY, SearchForm
from cnnlab_tui.widgets.search_panel import SearchPanel
from engine.cli import build_parser
from engine.cli.sweep_cmd import build_search_from_args
from engine.trainer.config import FieldRange, TrainConfig

pytest.importorskip("optuna", reason="searches need the 'search' extra (optuna)")


def _form(texts: dict[str, tuple[str, str]], model: str = "conv") -> tuple[SearchForm, dict]:
    fields = [(key, kind, text) for key, (kind, text) in texts.items()]
    space, keys, errors = search_launch.read_space(fields, model)
    return SearchForm(space, keys, trials=4, objective="val_loss"), errors


def test_the_form_builds_the_search_the_command_line_builds():
    form, errors = _form({
        "lr": ("float", "1e-4..1e-1:log"), "batch_size": ("int", "16, 32, 64"),
        "epochs": ("int", "3"),  # one value: not part of the space
    })  # fmt: skip
    assert errors == {}
    assert form.space == {"lr": FieldRange(1e-4, 1e-1, True), "batch_size": [16, 32, 64]}
    config = TrainConfig(dataset="shapes", val_fraction=0.2).to_dict()
    spec = search_launch.build_search_spec(config, form)
    args = build_parser().parse_args([
        "sweep", "--dataset", "shapes", "--val-fraction", "0.2", "--search", "tpe",
        "--trials", "4", "--objective", "val_loss",
        "--grid", "lr=1e-4..1e-1:log", "--grid", "batch-size=16,32,64",
    ])  # fmt: skip
    assert spec.search_id == build_search_from_args(args).search_id
    assert form.describe() == (
        "search: lr 0.0001..0.1:log, batch_size × 3 · 4 trials by val_loss (TPE)"
    )
    first = search_launch.first_values(config, form.space)
    assert (first["lr"], first["batch_size"]) == (1e-4, 16)


def test_each_refusal_lands_under_its_own_field():
    form, errors = _form({"lr": ("float", "1e-1..1e-4"), "seed": ("int", "0, 1"),
                          "batch_size": ("int", "16, x")})  # fmt: skip
    assert set(errors) == {"lr", "seed", "batch_size"}
    assert "one value here" in errors["seed"] and "x" in errors["batch_size"]

    form, errors = _form({"lr": ("float", "1e-4..1e-1:log")})
    config = TrainConfig(dataset="shapes").to_dict()  # no validation split
    form.objective = "val_acc"
    with pytest.raises(ValueError) as refused:
        search_launch.build_search_spec(config, form)
    mapped = search_launch.field_errors(refused.value, form)
    assert OBJECTIVE_KEY in mapped and "valid" in mapped[OBJECTIVE_KEY]

    form.objective, form.trials = "test_acc", 0
    with pytest.raises(ValueError) as refused:
        search_launch.build_search_spec(config, form)
    assert TRIALS_KEY in search_launch.field_errors(refused.value, form)

    form.trials = 2
    form.space["lr"] = FieldRange(1e-4, 50.0, True)  # the engine checks every value it may try
    with pytest.raises(ValueError) as refused:
        search_launch.build_search_spec(config, form)
    mapped = search_launch.field_errors(refused.value, form)
    assert set(mapped) == {"lr"} and mapped["lr"].startswith("lr=50: ")


def test_trials_are_a_whole_number_or_nothing():
    assert search_launch.parse_trials("") is None
    assert search_launch.parse_trials(" 20 ") == 20
    for bad in ("0", "-3", "many", "2.5"):
        with pytest.raises(ValueError):
            search_launch.parse_trials(bad)


@pytest.mark.slow
@async_test
async def test_a_search_launched_from_the_form_trains_its_trials_and_compare_shows_it(
    tmp_path, one_thread
):
    from engine.sweeps.search import list_searches
    from engine.sweeps.search_results import read_search

    runs_dir = tmp_path / "runs"
    app = CnnlabApp(data_root=tmp_path, runs_dir=runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_new_run(app, pilot)
        fill_form(form, {**TINY_FORM, "epochs": 1})
        await type_into(pilot, form, "lr", "1e-3..1e-1:log")  # a range: no error in search
        await type_into(pilot, form, TRIALS_KEY, "0")
        await wait_for(pilot, lambda: form_field(form, TRIALS_KEY).error, what="trials error")
        await type_into(pilot, form, TRIALS_KEY, "2")
        form_field(form, OBJECTIVE_KEY).set_value("test_loss")
        status = form.query_one("#launch-status")
        plan = "search: lr 0.001..0.1:log · 2 trials by test_loss (TPE)"
        await wait_for(pilot, lambda: plan in str(status.render()), what="the search plan")
        assert form_field(form, "lr").error is None and form_field(form, TRIALS_KEY).error is None

        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.current_mode == "live", what="Live screen")
        done = lambda: bool(app.runner.runs) and app.runner.runs[0].state == "finished"  # noqa: E731
        await wait_for(pilot, done, timeout=150, what="the search to finish")
        queued = app.runner.runs[0]
        assert (queued.status, queued.done, queued.total) == ("completed", 2, 2), queued.error
        (saved,) = list_searches(runs_dir)
        assert saved.search_id == queued.sweep_id and saved.spec.objective == "test_loss"
        result = read_search(runs_dir, saved.search_id)
        assert result.done == 2 and all(1e-3 <= t.params["lr"] <= 1e-1 for t in result.trials)

        app.open_compare([saved.search_id])
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), what="Compare")
        await wait_for(pilot, lambda: app.screen.query(SearchPanel), what="its Search tab")
        panel = app.screen.query_one(SearchPanel)
        await wait_for(pilot, lambda: panel.result is not None, what="the study read")
        assert "2/2 trials" in str(app.screen.query_one("#search-best").render())
