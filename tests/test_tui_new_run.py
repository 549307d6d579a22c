"""New run screen: fields validate as typed, launch refuses with a reason, model options and
the HDC verdict follow the model, presets and the last config fill the form."""

from __future__ import annotations

import json

import pytest
from tui_helpers import (
    async_test,
    form_field,
    open_new_run,
    tiny_config,
    type_into,
    wait_for,
)

from cnnlab_tui.app import CnnlabApp
from cnnlab_tui.screens.last_launch import LAST_CONFIG_FILE
from cnnlab_tui.screens.new_run import NewRunScreen
from cnnlab_tui.widgets.forms import FormField


def make_app(tmp_path, runs_dir=None) -> CnnlabApp:
    """A dashboard on `runs_dir` (the shared test engine's, for tests that launch)."""
    return CnnlabApp(data_root=tmp_path, runs_dir=runs_dir or tmp_path / "runs")


def field(screen: NewRunScreen, key: str) -> FormField:
    return form_field(screen, key)


def set_field(screen: NewRunScreen, key: str, value) -> None:
    """Set a field programmatically (typing is exercised once, in the first test)."""
    field(screen, key).set_value(value)


@pytest.mark.parametrize("size", [(80, 24), (140, 44)])
@async_test
async def test_invalid_field_shows_its_message_and_launch_does_nothing(tmp_path, size):
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        screen = await open_new_run(app, pilot)
        await type_into(pilot, screen, "lr", "fast")
        await wait_for(pilot, lambda: field(screen, "lr").error is not None, what="lr message")
        assert "number" in field(screen, "lr").error
        await type_into(pilot, screen, "epochs", "0")
        await wait_for(pilot, lambda: field(screen, "epochs").error is not None)
        assert "between 1" in field(screen, "epochs").error  # the engine's own message

        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.runner.runs == []
        assert app.current_mode == "new_run"
        status = str(screen.query_one("#launch-status").render())
        assert "Not launched" in status and "2 problem" in status
        assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())

        await type_into(pilot, screen, "lr", "0.01")
        await type_into(pilot, screen, "epochs", "2")
        await wait_for(pilot, lambda: field(screen, "lr").error is None)
        assert field(screen, "epochs").error is None


@async_test
async def test_model_options_follow_the_model_and_hdc_verdict_is_live(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_new_run(app, pilot)
        assert not screen.query("#field-option-dilations")
        field(screen, "model").set_value("dilated")
        await wait_for(pilot, lambda: screen.query("#field-option-dilations"), what="dilations")
        verdict = screen.query_one("#hdc-verdict")
        await wait_for(pilot, lambda: "HDC ✓" in str(verdict.render()), what="HDC ok")

        set_field(screen, "option-dilations", "2,4,6")
        await wait_for(pilot, lambda: "HDC ✗" in str(verdict.render()), what="HDC verdict")
        assert "common factor 2" in str(verdict.render())

        set_field(screen, "option-dilations", "1,2,x")
        await wait_for(pilot, lambda: field(screen, "option-dilations").error is not None)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.runner.runs == []

        # Typed options are kept per model when switching away and back.
        set_field(screen, "option-dilations", "1,2,3")
        field(screen, "model").set_value("conv")
        await wait_for(pilot, lambda: not screen.query("#field-option-dilations"))
        field(screen, "model").set_value("dilated")
        await wait_for(pilot, lambda: screen.query("#field-option-dilations"))
        assert field(screen, "option-dilations").parse() == [1, 2, 3]


@async_test
async def test_dataset_status_and_parameter_count(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_new_run(app, pilot)
        status = screen.query_one("#dataset-status")
        model_status = screen.query_one("#model-status")
        await wait_for(pilot, lambda: "found" in str(status.render()), what="shapes found")
        await wait_for(pilot, lambda: "parameters" in str(model_status.render()))
        assert "3 classes" in str(model_status.render())  # the probe's class count is used

        field(screen, "dataset").set_value("vehicles")
        await wait_for(pilot, lambda: "missing" in str(status.render()), what="vehicles missing")
        assert str(tmp_path) in str(status.render())  # says where it looked

        field(screen, "dataset").set_value("shapes")
        set_field(screen, "image_size", "4")  # too small for three valid convs
        await wait_for(pilot, lambda: "✗" in str(model_status.render()), what="model problem")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.runner.runs == []
        assert "Not launched" in str(screen.query_one("#launch-status").render())


@async_test
async def test_launch_queues_the_config_and_it_is_remembered(tmp_path, runs):
    app = make_app(tmp_path, runs)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_new_run(app, pilot)
        set_field(screen, "epochs", "3")
        set_field(screen, "option-widths", "4, 8")
        set_field(screen, "name", "remember me")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.current_mode == "live", what="switch to Live")
        assert len(app.runner.runs) == 1
        queued = app.runner.runs[0].config
        assert queued["epochs"] == 3 and queued["model_options"]["widths"] == [4, 8]
        assert queued["data_root"] == str(tmp_path)

    saved = json.loads((runs / LAST_CONFIG_FILE).read_text())["last_config"]
    assert saved["name"] == "remember me"
    again = make_app(tmp_path, runs)
    async with again.run_test(size=(80, 24)) as pilot:
        screen = await open_new_run(again, pilot)
        await wait_for(pilot, lambda: field(screen, "name").text == "remember me")
        assert field(screen, "epochs").parse() == 3
        assert field(screen, "option-widths").parse() == [4, 8]


@async_test
async def test_edit_and_rerun_and_presets_fill_the_form(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_new_run(app, pilot)
        await pilot.press("f2")
        config = tiny_config(tmp_path, model="dilated", model_options={"dilations": [1, 3]})
        config["setting_from_an_older_version"] = 1  # dropped, never blocks the re-run
        app.edit_and_rerun(config)
        await wait_for(pilot, lambda: app.current_mode == "new_run")
        screen = app.screen
        await wait_for(pilot, lambda: screen.query("#field-option-dilations"), what="dilated")
        await wait_for(pilot, lambda: field(screen, "option-dilations").parse() == [1, 3])
        assert field(screen, "image_size").parse() == 16
        await pilot.pause()
        assert "older_version" not in str(screen.query_one("#launch-status").render())
        reading = screen.to_config()
        assert reading.config is not None  # the form still builds its TrainConfig
        assert "setting_from_an_older_version" not in reading.config.to_dict()

        presets = pytest.importorskip("engine.presets")
        name = presets.list_presets()[0].name
        app.load_preset(name)
        await wait_for(pilot, lambda: name in str(screen.query_one("#preset-line").render()))
        await pilot.press("f6")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "PresetPicker")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)


@async_test
async def test_speed_checkboxes_reach_the_queued_config(tmp_path, runs):
    from textual.widgets import Checkbox

    app = make_app(tmp_path, runs)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_new_run(app, pilot)
        assert field(screen, "channels_last").parse() is False
        box = field(screen, "channels_last").query_one(Checkbox)
        box.focus()
        await pilot.press("space")  # toggled from the keyboard, as a user would
        await wait_for(pilot, lambda: box.value, what="checkbox ticked")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.current_mode == "live", what="switch to Live")
        queued = app.runner.runs[0].config
        assert queued["channels_last"] is True
        assert queued["amp"] is False and queued["compile"] is False


@async_test
async def test_a_sweep_launch_is_remembered_as_the_lists_that_were_typed(tmp_path, runs):
    app = make_app(tmp_path, runs)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_new_run(app, pilot)
        set_field(screen, "epochs", "1")
        set_field(screen, "lr", "1e-2, 1e-3")
        set_field(screen, "seeds", "2")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.current_mode == "live", what="switch to Live")

    again = make_app(tmp_path, runs)
    async with again.run_test(size=(80, 24)) as pilot:
        screen = await open_new_run(again, pilot)
        await wait_for(pilot, lambda: field(screen, "lr").text == "1e-2, 1e-3", what="lr list")
        assert field(screen, "seeds").text == "2"
        assert field(screen, "epochs").parse() == 1


@async_test
async def test_transfer_fields_are_on_the_form_and_reach_the_queued_config(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_new_run(app, pilot)
        assert field(screen, "init_from").parse() == ""
        assert field(screen, "freeze_epochs").parse() == 0
        assert field(screen, "lookahead").parse() is False
        await type_into(pilot, screen, "init_from", "torchvision:vgg16")
        await wait_for(pilot, lambda: field(screen, "init_from").error is not None,
                       what="init_from refused")  # fmt: skip
        assert "offered: torchvision:alexnet" in field(screen, "init_from").error
        set_field(screen, "init_from", "latest:best")
        set_field(screen, "freeze_epochs", 2)
        set_field(screen, "head_lr_mult", 10)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.current_mode == "live", what="switch to Live")
        queued = app.runner.runs[0].config
        assert queued["init_from"] == "latest:best"
        assert queued["freeze_epochs"] == 2 and queued["head_lr_mult"] == 10
