"""New run asks before it downloads torchvision weights (the dashboard's --download-weights):
with `init_from = torchvision:resnet18` and an empty torch hub cache (TORCH_HOME in a temp
folder), Launch opens a dialog naming the file, its address and the folder; `n` queues
nothing and says why beside Launch; `y` downloads — the network is replaced at its edge,
`engine.transfer.hub.download_weights`, by a stand-in that writes torch hub's partial file
and then the weights — shows the megabytes so far, then queues the run; a download that
fails queues nothing and shows torch hub's reason."""

from __future__ import annotations

import time
from pathlib import Path

from tui_helpers import async_test, open_new_run, wait_for

from cnnlab_tui.app import CnnlabApp
from cnnlab_tui.screens.confirm import ConfirmScreen
from engine.transfer.report import TransferError

CONFIG = {
    "dataset": "shapes", "image_size": 32, "model": "resnet18",
    "model_options": {"base_width": 64, "stem": "imagenet"},
    "init_from": "torchvision:resnet18", "epochs": 1, "batch_size": 16, "device": "cpu",
    "max_train_batches": 1,
}  # fmt: skip


def _status(screen) -> str:
    return str(screen.query_one("#launch-status").render())


async def _launch_and_see_the_question(app, pilot):
    screen = await open_new_run(app, pilot)
    screen.load_config(dict(CONFIG))
    await wait_for(pilot, lambda: not screen.checking, what="the form checked")
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
    return screen, app.screen


@async_test
async def test_no_queues_nothing_and_says_why(tmp_path, empty_hub):
    app = CnnlabApp(data_root=tmp_path, runs_dir=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        screen, dialog = await _launch_and_see_the_question(app, pilot)
        words = " ".join(dialog.question.split())
        assert "download.pytorch.org" in words and str(empty_hub.parent) in words
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is screen, what="the dialog closed")
        await wait_for(pilot, lambda: "not downloaded" in _status(screen), what="the refusal")
        assert not app.runner.runs and not empty_hub.exists()


@async_test
async def test_yes_downloads_with_progress_then_queues_the_run(
    tmp_path, empty_hub, own_engine, monkeypatch
):  # the dashboard starts its engine, which shares its TORCH_HOME
    def stand_in(name: str, progress: bool = True) -> Path:
        empty_hub.parent.mkdir(parents=True, exist_ok=True)
        partial = empty_hub.with_name(empty_hub.name + ".0123abcd.partial")
        partial.write_bytes(b"\0" * (3 * 2**20))
        time.sleep(2.0)  # long enough for the progress line to be read twice
        partial.rename(empty_hub)
        return empty_hub

    monkeypatch.setattr("engine.transfer.hub.download_weights", stand_in)
    app = CnnlabApp(data_root=tmp_path, runs_dir=own_engine)
    async with app.run_test(size=(80, 24)) as pilot:
        screen, _ = await _launch_and_see_the_question(app, pilot)
        await pilot.press("y")
        await wait_for(pilot, lambda: "resnet18 weights: 3 MB" in _status(screen),
                       what="the download's progress")  # fmt: skip
        await wait_for(pilot, lambda: app.current_mode == "live", timeout=60, what="queued")
        assert app.runner.runs[0].config["init_from"] == "torchvision:resnet18"
    assert empty_hub.is_file()


@async_test
async def test_a_failed_download_queues_nothing_and_says_why(tmp_path, empty_hub, monkeypatch):
    def unreachable(name: str, progress: bool = True) -> Path:
        raise TransferError("could not download https://download.pytorch.org/…: no route")

    monkeypatch.setattr("engine.transfer.hub.download_weights", unreachable)
    app = CnnlabApp(data_root=tmp_path, runs_dir=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        screen, _ = await _launch_and_see_the_question(app, pilot)
        await pilot.press("y")
        await wait_for(pilot, lambda: "no route" in _status(screen), what="the failure")
        assert "Not launched" in _status(screen)
        assert not app.runner.runs and app.current_mode != "live"
