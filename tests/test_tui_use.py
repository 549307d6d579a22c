"""Run detail's Errors and Predict tabs and its evaluations table, piloted on real trained
runs: keys pressed and paths typed, then what is shown and what was written checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from textual.widgets import Button, DataTable, Input, Label, TabbedContent
from tui_helpers import async_test, wait_for
from use_helpers import dehaze_config, folder_config, train, write_shape_folder

from cnnlab_tui.app import CnnlabApp
from cnnlab_tui.screens.detail import DetailScreen
from cnnlab_tui.widgets.errors_pane import ErrorsPane
from cnnlab_tui.widgets.image_view import ImageView
from cnnlab_tui.widgets.predict_pane import PredictPane
from engine.use.evaluate import evaluate_run, save_evaluation
from engine.use.loading import load_run

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    root = tmp_path_factory.mktemp("tui-use")
    data = write_shape_folder(root / "shapes")
    return data, root / "runs", train(folder_config(data), root / "runs")


def _app(runs_dir: Path, tmp_path: Path) -> CnnlabApp:
    return CnnlabApp(data_root=tmp_path / "data", runs_dir=runs_dir)


async def _open(pilot, run_id: str, tab: str) -> DetailScreen:
    pilot.app.open_detail(run_id)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, DetailScreen), what="detail")
    screen = pilot.app.screen
    await wait_for(pilot, lambda: screen.record is not None, what="the run to load")
    screen.query_one("#detail-tabs", TabbedContent).active = tab
    await pilot.pause()
    return screen


def _text(widget) -> str:
    return str(widget.render())


async def _type(pilot, text: str) -> None:
    for char in text:
        await pilot.press(char if char not in " /._-" else _KEYS[char])


_KEYS = {" ": "space", "/": "slash", ".": "full_stop", "_": "underscore", "-": "minus"}


@async_test
async def test_errors_tab_explains_the_run_in_the_background_and_draws_the_gallery(
    shapes, tmp_path
):
    _, runs_dir, run_id = shapes
    async with _app(runs_dir, tmp_path).run_test(size=(100, 32)) as pilot:
        screen = await _open(pilot, run_id, "tab-errors")
        pane = screen.query_one(ErrorsPane)
        status = pane.query_one("#errors-status", Label)
        await wait_for(pilot, lambda: "No explanation yet" in _text(status), what="empty state")
        pane.query_one("#explain-button", Button).focus()
        await pilot.press("x")
        await wait_for(
            pilot, lambda: "misclassified" in _text(status), timeout=120, what="the explanation"
        )
        await wait_for(pilot, lambda: len(pane.query(ImageView)) > 0, what="the gallery")
        run_dir = runs_dir / run_id
        index = pane.index
        assert index is not None and (run_dir / "explain" / "explain.json").is_file()
        assert f"{index['errors']} of {index['num_test']}" in _text(status)
        views = list(pane.query(".error-picture").results(ImageView))
        assert len(views) == len(index["images"]) and all(v.image is not None for v in views)
        labels = " ".join(_text(label) for label in pane.query("#errors-gallery Label"))
        first = index["images"][0]
        assert str(run_dir / first["picture"]) in labels
        assert f"{first['true']} → {first['predicted']}" in labels
        assert "first conv layer's filters" in labels and "feature maps after" in labels
        assert pilot.app.is_running


@async_test
async def test_predict_tab_classifies_a_typed_folder(shapes, tmp_path):
    data, runs_dir, run_id = shapes
    folder = tmp_path / "mine"
    folder.mkdir()
    for name in ("square/square001.png", "circle/circle002.png", "triangle/triangle003.png"):
        Image.open(data / name).save(folder / Path(name).name)
    (folder / "readme.txt").write_text("not an image")
    async with _app(runs_dir, tmp_path).run_test(size=(100, 32)) as pilot:
        screen = await _open(pilot, run_id, "tab-predict")
        pane = screen.query_one(PredictPane)
        pane.query_one("#predict-path", Input).focus()
        await _type(pilot, str(folder))
        await pilot.press("enter")
        await wait_for(pilot, lambda: pane.result is not None, timeout=120, what="predictions")
        await pilot.pause()
        table = pane.query_one("#predict-table", DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert sorted(row[0] for row in rows) == [
            "circle002.png",
            "square001.png",
            "triangle003.png",
        ]
        assert all(row[1].split()[0] in ("circle", "square", "triangle") for row in rows)
        assert all(row[1].endswith("%") for row in rows)
        status = _text(pane.query_one("#predict-status", Label))
        assert "3 image(s)" in status and "readme.txt: not an image file type" in status

        pane.query_one("#predict-path", Input).value = str(tmp_path / "nowhere")
        pane.result = None
        await pilot.press("enter")
        await wait_for(pilot, lambda: pane.result is not None, timeout=60, what="second result")
        assert "no such file or folder" in _text(pane.query_one("#predict-status", Label))
        assert pilot.app.is_running


@async_test
async def test_predict_tab_dehazes_into_the_run_folder_at_the_inputs_sizes(tmp_path):
    runs_dir = tmp_path / "runs"
    run_id = train(dehaze_config(), runs_dir)
    picture = tmp_path / "hazy.png"
    Image.new("RGB", (45, 27), (180, 190, 200)).save(picture)
    async with _app(runs_dir, tmp_path).run_test(size=(100, 32)) as pilot:
        screen = await _open(pilot, run_id, "tab-predict")
        pane = screen.query_one(PredictPane)
        pane.query_one("#predict-path", Input).focus()
        await _type(pilot, str(picture))
        await pilot.press("enter")
        await wait_for(pilot, lambda: pane.result is not None, timeout=120, what="dehazing")
        await wait_for(pilot, lambda: len(pane.query(ImageView)) == 1, what="the drawing")
        written = list((runs_dir / run_id / "predictions").rglob("*.png"))
        assert [p.name for p in written] == ["hazy.dehazed.png"]
        with Image.open(written[0]) as output:
            assert output.size == (45, 27)
        assert pane.query_one(ImageView).image.size == (45, 27)


@async_test
async def test_a_run_that_cannot_be_explained_says_why_in_a_notification(tmp_path):
    runs_dir = tmp_path / "runs"
    run_id = train(
        folder_config(write_shape_folder(tmp_path / "gone", per_class=20), epochs=1), runs_dir
    )
    for path in sorted((tmp_path / "gone").rglob("*"), reverse=True):  # the data is gone
        path.unlink() if path.is_file() else path.rmdir()
    async with _app(runs_dir, tmp_path).run_test(size=(100, 32)) as pilot:
        screen = await _open(pilot, run_id, "tab-errors")
        pane = screen.query_one(ErrorsPane)
        pane.query_one("#explain-button", Button).press()
        status = pane.query_one("#errors-status", Label)
        await wait_for(pilot, lambda: "⚠" in _text(status), timeout=60, what="the failure")
        assert "no data set found" in _text(status) and "Traceback" not in _text(status)
        errors = [n for n in pilot.app._notifications if n.severity == "error"]
        assert errors and "no data set found" in errors[-1].message  # same idiom as test_tui_live
        assert not pane.busy and pilot.app.is_running


@async_test
async def test_evaluations_recorded_in_the_run_show_in_the_metrics_tab(shapes, tmp_path):
    data, runs_dir, run_id = shapes
    loaded = load_run(run_id, runs_dir)
    save_evaluation(loaded.run_dir, evaluate_run(loaded, data_root=data, split="all"))
    async with _app(runs_dir, tmp_path).run_test(size=(100, 32)) as pilot:
        screen = await _open(pilot, run_id, "tab-metrics")
        table = screen.query_one("#evaluations-table", DataTable)
        await wait_for(pilot, lambda: table.row_count > 0, what="the evaluations table")
        cells = [str(c) for c in table.get_row_at(0)]
        assert cells[0] == "shapes-all" and cells[2] == "180" and cells[4].endswith("%")
