"""App shell: navigation keys (also from inside inputs), the palette, the engine's queue as
the dashboard shows it (one run at a time per lane) and quitting while runs are active:
keep them training in the background (the default), cancel them, or stay."""

from __future__ import annotations

import asyncio

import pytest
from textual.widgets import DataTable, Input
from tui_helpers import async_test, open_new_run, tiny_config, wait_for

from cnnlab_tui.app import CnnlabApp
from cnnlab_tui.messages import RunsChanged
from cnnlab_tui.screens.live import LiveScreen
from engine.runs import RunStore
from engine.service.client import EngineClient
from engine.trainer.config import TrainConfig

pytestmark = pytest.mark.timeout(300)


def make_app(tmp_path, runs_dir=None) -> CnnlabApp:
    return CnnlabApp(data_root=tmp_path, runs_dir=runs_dir or tmp_path / "runs")


async def submit(app: CnnlabApp, **config) -> str:
    """Queue a tiny run as the dashboard does (from a thread: it talks to the engine)."""
    view = await asyncio.to_thread(app.runner.submit_run, TrainConfig(**tiny_config(**config)))
    return view["queue_id"]


def mode_bar_text(app: CnnlabApp) -> str:
    from cnnlab_tui.widgets.mode_bar import ModeBar

    return app.screen.query_one(ModeBar).render().plain


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
async def test_runs_execute_one_at_a_time_and_the_queue_is_visible(tmp_path, runs):
    app = make_app(tmp_path, runs)
    async with app.run_test(size=(80, 24)) as pilot:
        first = await submit(app, epochs=500)
        second = await submit(app, epochs=3, max_train_batches=2)
        third = await submit(app)
        await wait_for(pilot, lambda: app.runner.get(first).state == "running", timeout=60)
        await pilot.pause(0.1)
        assert app.runner.get(second).state == "queued"  # same lane: it waits
        assert [r.queue_id for r in app.runner.queue] == [second, third]

        await pilot.press("f2")
        table = app.screen.query_one("#queue", DataTable)
        await wait_for(pilot, lambda: table.row_count == 3, what="three rows")
        assert [table.get_row(q)[1] for q in (first, second, third)] == [
            "running",
            "queued",
            "queued",
        ]
        assert {table.get_row(q)[2] for q in (first, second, third)} == {"cpu"}  # the lane
        table.move_cursor(row=table.get_row_index(third))
        await pilot.press("x")  # drop the last queued run
        await wait_for(pilot, lambda: not app.runner.get(third).active, what="third dropped")
        assert app.runner.get(third).status == "cancelled"

        await pilot.press("c", "y")  # cancel the followed (running) one: the next starts
        await wait_for(pilot, lambda: not app.runner.active, timeout=120, what="queue drained")
        assert [app.runner.get(q).status for q in (first, second)] == ["cancelled", "completed"]
        assert len(app.runner.get(second).metrics) == 3
        store = RunStore(runs)
        assert store.get(app.runner.get(second).run_id).status == "completed"
        assert third not in {r.queue_id for r in app.runner.running}


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
async def test_quit_keeps_runs_training_by_default_stays_or_cancels_them(tmp_path, runs):
    app = make_app(tmp_path, runs)
    async with app.run_test(size=(80, 24)) as pilot:
        queue_id = await submit(app, epochs=500)
        await wait_for(pilot, lambda: app.runner.get(queue_id).metrics, timeout=60, what="ep 1")
        assert "● 1 run in engine" in mode_bar_text(app)  # it goes on when we close

        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "QuitScreen")
        assert "1 run training or queued" in str(app.screen.query_one("#quit-question").render())
        await pilot.press("s")  # stay
        await pilot.pause()
        assert app.return_code is None and app.runner.active

        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "QuitScreen")
        await pilot.press("enter")  # the default: keep training in the background
        await wait_for(pilot, lambda: app.return_code is not None, what="exit", timeout=20)
    run_id = app.runner.get(queue_id).run_id
    with EngineClient.connect(runs) as engine:
        [view] = engine.entries()
        assert (view["queue_id"], view["state"]) == (queue_id, "running")
    done_at_exit = len(RunStore(runs).get(run_id).metrics)
    await asyncio.sleep(0)

    again = make_app(tmp_path, runs)  # reopened: it is still training, every epoch shown
    async with again.run_test(size=(80, 24)) as pilot:
        await pilot.press("f2")
        await wait_for(pilot, lambda: again.runner.get(queue_id) is not None
                       and len(again.runner.get(queue_id).metrics) > done_at_exit,
                       timeout=60, what="more epochs after the dashboard closed")  # fmt: skip
        followed = again.runner.current
        assert followed.queue_id == queue_id and followed.run_id == run_id
        epochs = [row["epoch"] for row in followed.metrics]
        assert epochs == list(range(1, len(epochs) + 1))  # the snapshot replayed them all
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: type(again.screen).__name__ == "QuitScreen")
        await pilot.press("c")  # cancel them, then quit
        await wait_for(pilot, lambda: again.return_code is not None, what="exit", timeout=60)
    record = RunStore(runs).get(run_id)
    assert record.status == "cancelled" and len(record.metrics) >= done_at_exit
    with EngineClient.connect(runs) as engine:
        assert engine.entries() == []


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
