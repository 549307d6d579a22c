"""App shell: navigation keys (also from inside inputs), the palette, the run queue (one
run at a time per device) and quitting while a run is active."""

from __future__ import annotations

import threading

import pytest
from textual.widgets import DataTable, Input
from tui_helpers import FakeTrainer, async_test, fake_factory, open_new_run, tiny_config, wait_for

from cnnlab_tui.app import CnnlabApp
from cnnlab_tui.messages import RunsChanged
from cnnlab_tui.screens.live import LiveScreen


def make_app(tmp_path, gate: threading.Event | None = None) -> CnnlabApp:
    return CnnlabApp(
        data_root=tmp_path, runs_dir=tmp_path / "runs", trainer_factory=fake_factory(gate)
    )


@async_test
async def test_keys_switch_screens_even_while_typing(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_new_run(app, pilot)
        form.query_one("#field-lr Input", Input).focus()
        await pilot.press("ctrl+l")
        assert app.current_mode == "live" and isinstance(app.screen, LiveScreen)
        for key, mode in [("f3", "runs"), ("f4", "compare"), ("f5", "conv_lab"), ("f1", "new_run")]:
            await pilot.press(key)
            assert app.current_mode == mode
            assert isinstance(app.screen, CnnlabApp.MODES[mode]), f"{mode} shows its screen"
        assert app.screen is form  # a mode keeps its screen (and what was typed)
        await pilot.press("ctrl+r")
        assert app.current_mode == "runs"
        await pilot.press("ctrl+n")
        assert app.current_mode == "new_run"
        await pilot.press("ctrl+o")
        assert app.current_mode == "conv_lab"
        await pilot.press("ctrl+n")


@async_test
async def test_line_editing_keys_stay_with_the_input(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_new_run(app, pilot)
        lr = form.query_one("#field-lr Input", Input)
        lr.focus()
        lr.value = "0.001"
        await pilot.pause()
        await pilot.press("home", "right")
        await pilot.press("ctrl+k")  # kill to end of line, as in every terminal
        assert app.current_mode == "new_run"
        assert lr.value == "0"


def test_palette_offers_screens_and_presets(tmp_path):
    app = make_app(tmp_path)
    assert list(app.preset_commands()) == []  # none while the engine loads
    app.engine.load()
    titles = [c.title for c in app.preset_commands()]
    presets = pytest.importorskip("engine.presets")
    assert {f"Preset: {p.name}" for p in presets.list_presets()} <= set(titles)


@async_test
async def test_palette_commands_include_every_screen(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        titles = {c.title for c in app.get_system_commands(app.screen)}
        for title in ("Go to New run", "Go to Live run", "Go to Runs", "Go to Compare"):
            assert title in titles
        runs_command = next(
            c for c in app.get_system_commands(app.screen) if c.title == "Go to Runs"
        )
        runs_command.callback()
        await pilot.pause()
        assert app.current_mode == "runs"


@async_test
async def test_runs_execute_one_at_a_time_and_the_queue_is_visible(tmp_path):
    gate = threading.Event()
    app = make_app(tmp_path, gate)
    async with app.run_test(size=(80, 24)) as pilot:
        first = app.runner.submit(tiny_config(tmp_path))
        second = app.runner.submit(tiny_config(tmp_path, epochs=3))
        third = app.runner.submit(tiny_config(tmp_path))
        await wait_for(pilot, lambda: app.runner.get(first).state == "running")
        await pilot.pause(0.1)
        assert app.runner.get(second).state == "queued"  # same device: it waits
        assert [r.queue_id for r in app.runner.queue] == [second, third]

        await pilot.press("f2")
        table = app.screen.query_one("#queue", DataTable)
        assert [table.get_row(q)[1] for q in (first, second, third)] == [
            "running",
            "queued",
            "queued",
        ]
        table.move_cursor(row=table.get_row_index(third))
        await pilot.press("x")  # drop the last queued run
        await wait_for(pilot, lambda: app.runner.get(third) is None, what="third dropped")

        gate.set()
        await wait_for(pilot, lambda: not app.runner.active, timeout=20, what="queue drained")
        assert [app.runner.get(q).status for q in (first, second)] == ["completed", "completed"]
        assert [t.config["epochs"] for t in FakeTrainer.created] == [2, 3]  # in submit order
        assert len(app.runner.get(second).metrics) == 3


@async_test
async def test_runs_changed_reaches_screens_of_other_modes(tmp_path, monkeypatch):
    seen: list[str] = []
    monkeypatch.setattr(
        LiveScreen, "on_runs_changed", lambda self, message: seen.append(message.run_id)
    )
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f2")
        await pilot.press("f1")  # Live is no longer the visible screen
        app.post_message(RunsChanged("some-run", "deleted"))
        await wait_for(pilot, lambda: "some-run" in seen, timeout=10, what="RunsChanged")


@async_test
async def test_quit_when_idle_exits_at_once(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert app.return_code == 0


@async_test
async def test_quit_while_training_asks_then_cancels_the_run(tmp_path):
    gate = threading.Event()
    app = make_app(tmp_path, gate)
    async with app.run_test(size=(80, 24)) as pilot:
        queue_id = app.runner.submit(tiny_config(tmp_path, epochs=5))
        app.runner.submit(tiny_config(tmp_path))
        await wait_for(pilot, lambda: app.runner.get(queue_id).state == "running")

        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")
        await pilot.press("n")  # changed my mind: keep training
        await pilot.pause()
        assert app.return_code is None and app.runner.active

        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")
        await pilot.press("y")
        await wait_for(pilot, lambda: app.return_code is not None, what="exit", timeout=20)
    assert FakeTrainer.created[0].status == "cancelled"
    assert len(FakeTrainer.created) == 1  # the queued run never started


@async_test
async def test_mode_bar_names_every_mode_and_the_footer_fits_80_columns(tmp_path):
    from cnnlab_tui.widgets.mode_bar import ModeBar

    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_new_run(app, pilot)
        for key, mode in (("f3", "runs"), ("f4", "compare"), ("f2", "live"), ("f1", "new_run")):
            await pilot.press(key)
            await wait_for(pilot, lambda m=mode: app.current_mode == m, what=f"mode {mode}")
            await pilot.pause()
            bar = app.screen.query_one(ModeBar)
            text = bar.render().plain
            assert bar.mode == mode
            for label in ("F1 New", "F2 Live", "F3 Runs", "F4 Compare", "F5 Conv lab"):
                assert label in text
            keys = list(app.screen.query("FooterKey"))  # Textual's footer entries
            assert keys, f"{mode}: the footer shows the screen's keys"
            assert all(k.region.right <= 80 and k.region.width > 0 for k in keys), mode
            assert not any(k.description in ("New", "Live", "Runs") for k in keys)
