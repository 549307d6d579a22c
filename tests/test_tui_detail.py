"""Run detail screen and the half-block image view: what one run left on disk, drawn —
curves, metrics, per-class accuracy, confusion matrix, dehazing samples, damaged runs."""

from __future__ import annotations

import numpy as np
from PIL import Image
from textual.app import App
from textual.widgets import DataTable, Static, TabbedContent
from tui_helpers import async_test, wait_for
from tui_store_helpers import CLASSES, write_run

from cnnlab_tui.app import CnnlabApp
from cnnlab_tui.screens.detail import DetailScreen
from cnnlab_tui.widgets.charts import MetricChart
from cnnlab_tui.widgets.image_view import ImageView, fit_size, half_block_text

CLASSIFY = "20250101-120000-conv-shapes-aaaa"
DEHAZE = "20250103-090000-dehaze-dehaze-dddd"


def _app(tmp_path) -> CnnlabApp:
    return CnnlabApp(data_root=tmp_path / "data", runs_dir=tmp_path / "runs")


async def _open_detail(pilot, run_id: str) -> DetailScreen:
    pilot.app.open_detail(run_id)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, DetailScreen), what="detail")
    screen = pilot.app.screen
    await wait_for(pilot, lambda: screen.record is not None, what="the run to load")
    await pilot.pause()
    return screen


def _cells(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def _title(screen: DetailScreen) -> str:
    """The title block's text ("" while the screen is still being composed)."""
    found = screen.query("#detail-title")
    return str(found.first(Static).render()) if found else ""


@async_test
async def test_classification_run_curves_metrics_and_confusion(tmp_path):
    write_run(tmp_path / "runs", CLASSIFY, epochs=2, lr=0.01)
    async with _app(tmp_path).run_test(size=(140, 44)) as pilot:
        screen = await _open_detail(pilot, CLASSIFY)
        assert "completed" in _title(screen) and "shapes / conv" in _title(screen)
        loss = screen.query_one("#chart-loss", MetricChart).series
        assert loss["train_loss"] == ([1.0, 2.0], [1.0, 0.5])
        assert loss["test_loss"][0] == [1.0, 2.0]
        acc = screen.query_one("#chart-acc", MetricChart)
        assert acc.display and acc.series["test_acc"][1] == [0.4, 0.5]
        assert not screen.query_one("#chart-psnr", MetricChart).display

        metrics = {row[0]: row[1:] for row in _cells(screen.query_one("#metrics-table"))}
        assert metrics["test_acc"] == ["0.5", "0.5"] and metrics["best epoch"][0] == "2"
        per_class = _cells(screen.query_one("#per-class-table"))
        assert [row[0] for row in per_class] == CLASSES
        confusion = _cells(screen.query_one("#confusion-table"))
        # Every count written out, the diagonal in brackets (not only a colour).
        assert [row[1:] for row in confusion] == [
            ["[5]", " 1 ", " 0 "], [" 0 ", "[4]", " 2 "], [" 1 ", " 0 ", "[5]"]
        ]  # fmt: skip
        assert [row[0] for row in confusion] == CLASSES

        config = {row[0]: row[1] for row in _cells(screen.query_one("#config-table"))}
        assert config["lr"] == "0.01" and config["dataset"] == "shapes"
        # Samples belong to dehazing: the tab is hidden, ctrl+t skips it.
        tabs = screen.query_one("#detail-tabs", TabbedContent)
        seen = []
        for _ in range(5):
            await pilot.press("ctrl+t")
            seen.append(tabs.active)
        assert "tab-samples" not in seen and "tab-confusion" in seen


@async_test
async def test_dehaze_run_draws_samples_with_their_paths(tmp_path):
    run_dir = write_run(tmp_path / "runs", DEHAZE, task="dehaze", model="dehaze", samples=2)
    async with _app(tmp_path).run_test(size=(80, 24)) as pilot:
        screen = await _open_detail(pilot, DEHAZE)
        psnr = screen.query_one("#chart-psnr", MetricChart)
        assert psnr.display and psnr.series["test_psnr"] == ([1.0, 2.0], [16.0, 17.0])
        assert not screen.query_one("#chart-acc", MetricChart).display
        tabs = screen.query_one("#detail-tabs", TabbedContent)
        tabs.active = "tab-samples"
        await pilot.pause()
        views = list(screen.query(ImageView))
        assert len(views) == 2 and all(view.image is not None for view in views)
        assert views[0].image.size == (28, 8)  # hazy | output | clear, 8 px each + gaps
        labels = " ".join(str(label.render()) for label in screen.query("#samples Label"))
        assert str(run_dir / "samples" / "epoch002_0_img0.png") in labels
        tabs.active = "tab-confusion"  # hidden for dehazing: falls back, never crashes
        await pilot.pause()
        assert pilot.app.is_running


@async_test
async def test_damaged_and_missing_runs_say_why(tmp_path):
    broken = tmp_path / "runs" / "20250104-000000-broken-json"
    broken.mkdir(parents=True)
    (broken / "summary.json").write_text("{not json")
    async with _app(tmp_path).run_test(size=(80, 24)) as pilot:
        screen = await _open_detail(pilot, broken.name)
        assert "damaged" in _title(screen) and "summary.json is unreadable" in _title(screen)
        assert screen.query_one("#chart-loss", MetricChart).series == {}
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(pilot.app.screen, DetailScreen), what="back")
        pilot.app.open_detail("no-such-run")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, DetailScreen), what="detail")
        screen = pilot.app.screen
        assert screen.run_id == "no-such-run"
        await wait_for(pilot, lambda: "no run" in _title(screen), what="the store's message")
        assert pilot.app.is_running


@async_test
async def test_running_run_is_followed_until_it_ends(tmp_path):
    runs_dir = tmp_path / "runs"
    write_run(runs_dir, CLASSIFY, epochs=1, finish=False)  # still running (our pid is alive)
    async with _app(tmp_path).run_test(size=(80, 24)) as pilot:
        screen = await _open_detail(pilot, CLASSIFY)
        assert screen.record.status == "running"
        chart = screen.query_one("#chart-loss", MetricChart)
        assert chart.series["train_loss"][0] == [1.0]
        write_run(runs_dir, CLASSIFY, epochs=3)
        await wait_for(
            pilot,
            lambda: screen.record.status == "completed",
            timeout=10,
            what="the detail screen to notice the run ended",
        )
        assert chart.series["train_loss"][0] == [1.0, 2.0, 3.0]


def test_half_blocks_put_two_pixels_in_each_cell():
    image = np.zeros((4, 2, 3), np.uint8)
    image[0::2] = (255, 0, 0)  # even rows red
    image[1::2] = (0, 0, 255)  # odd rows blue
    text = half_block_text(Image.fromarray(image), columns=2, rows=2)
    assert text.plain == "▀▀\n▀▀"
    style = text.spans[0].style
    assert style.color.triplet == (255, 0, 0) and style.bgcolor.triplet == (0, 0, 255)


def test_fit_size_keeps_aspect_and_fills_the_box():
    assert fit_size((32, 32), (80, 20)) == (40, 40)  # 40 columns × 20 rows of half blocks
    assert fit_size((640, 480), (40, 10)) == (27, 20)
    assert fit_size((100, 10), (20, 20)) == (20, 2)
    assert fit_size((10, 10), (0, 5)) == (0, 0)


class _ImageApp(App):
    def compose(self):
        yield ImageView(np.full((3, 6, 6), 0.5), id="array")  # CHW float in [0, 1]
        yield ImageView("/no/such/file.png", id="missing")


@async_test
async def test_image_view_reads_arrays_and_survives_missing_files():
    app = _ImageApp()
    async with app.run_test(size=(40, 12)):
        shown = app.query_one("#array", ImageView)
        assert shown.image.size == (6, 6) and shown.image.getpixel((0, 0)) == (128, 128, 128)
        missing = app.query_one("#missing", ImageView)
        assert missing.image is None and "file.png" in missing.problem
        assert "cannot read" in str(missing.render())
