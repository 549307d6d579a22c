"""The GPU panel in Live: the engine's telemetry as one line per GPU over a sparkline of
its utilisation, or one line when there is no GPU — fed real `Snapshot`s of readings (a
stand-in only where hardware is missing: the values a GPU would report), and in Live by
the dashboard's real engine."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Sparkline, Static
from tui_helpers import async_test, wait_for

from cnnlab_tui.app import CnnlabApp
from cnnlab_tui.screens.live import LiveScreen
from cnnlab_tui.widgets.gpu_panel import NO_TELEMETRY, GpuPanel
from engine.telemetry.nvml import GpuReading
from engine.telemetry.sampler import Snapshot

GIB = 2**30


def _gpu(index: int, util: float) -> GpuReading:
    return GpuReading(index, f"GPU-{index}", "NVIDIA H200", util, 40 * GIB, 140 * GIB, 61.0,
                      450.0, [{"pid": 42, "memory": GIB}])  # fmt: skip


class PanelApp(App):
    def compose(self) -> ComposeResult:
        yield GpuPanel(id="gpus")


def _lines(app: App) -> list[str]:
    return [str(w.render()) for w in app.query_one(GpuPanel).query(Static)]


@async_test
async def test_each_gpu_gets_its_line_and_sparkline_and_no_gpu_is_one_line():
    app = PanelApp()
    async with app.run_test(size=(100, 20)) as pilot:
        panel = app.query_one(GpuPanel)
        assert _lines(app) == [NO_TELEMETRY]
        two = Snapshot(True, None, [_gpu(0, 87.0), _gpu(1, 5.0)],
                       history={0: [10.0, None, 87.0], 1: [5.0]})  # fmt: skip
        panel.show(two.to_dict())
        await pilot.pause()
        lines = _lines(app)
        assert len(lines) == 2 and len(panel.query(Sparkline)) == 2
        assert lines[0] == "0 NVIDIA H200 · 87% · 40.0/140.0 GiB · 61°C · 450 W · 1 process"
        assert lines[1].startswith("1 NVIDIA H200 · 5% ·")
        assert panel.histories == [[10.0, 87.0], [5.0]]  # a missed reading is left out

        one = Snapshot(True, None, [_gpu(0, 50.0)], history={0: [10.0, 87.0, 50.0]})
        panel.show(one.to_dict())  # a GPU gone: its row goes
        await pilot.pause()
        assert len(_lines(app)) == 1 and panel.histories == [[10.0, 87.0, 50.0]]

        none = Snapshot(False, "no NVIDIA GPU to watch (NVML Shared Library Not Found)")
        panel.show(none.to_dict())
        await pilot.pause()
        assert _lines(app) == ["no NVIDIA GPU to watch (NVML Shared Library Not Found)"]
        assert not panel.query(Sparkline)


class PolledApp(App):
    def __init__(self, source) -> None:
        super().__init__()
        self.source = source

    def compose(self) -> ComposeResult:
        yield GpuPanel(source=self.source, id="gpus")


@async_test
async def test_a_panel_with_a_source_reads_it_in_a_worker_and_says_when_it_fails():
    answers = [Snapshot(True, None, [_gpu(0, 30.0)], history={0: [30.0]}).to_dict()]

    def source():
        if not answers:
            raise ConnectionError("the engine went away")
        return answers.pop()

    app = PolledApp(source)
    async with app.run_test(size=(100, 20)) as pilot:
        panel = app.query_one(GpuPanel)
        await wait_for(pilot, lambda: panel.lines[0].startswith("0 NVIDIA H200 · 30%"), what="read")
        await wait_for(pilot, lambda: "the engine went away" in panel.lines[0], what="the failure")
        assert panel.lines == ["no GPU telemetry: the engine went away"]


@async_test
async def test_live_shows_the_engine_s_gpus_or_one_line_saying_why_not(tmp_path, runs):
    """Live asks the dashboard's engine (a real one) for its telemetry; on a machine
    without an NVIDIA GPU that is the one line `cnnlab engine status` prints too."""
    from engine.cli.engine_common import gpu_lines
    from engine.service.client import EngineClient

    with EngineClient.connect(runs, client="test") as engine:
        expected = gpu_lines(engine.telemetry())
    app = CnnlabApp(data_root=tmp_path / "data", runs_dir=runs)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, LiveScreen), what="Live")
        panel = app.screen.query_one(GpuPanel)
        if expected[0].startswith("no "):  # no GPU here: one line, no sparkline
            await wait_for(pilot, lambda: panel.lines == expected, what="the engine's answer")
            assert not panel.query(Sparkline)
        else:
            await wait_for(pilot, lambda: len(panel.histories) == len(expected), what="GPUs")
