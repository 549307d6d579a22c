"""Live with the real engine: the loss chart holds every published batch after one epoch
(raw, smoothed, the epoch means as markers), the lr curve per batch, `l` toggles log scale
on screen, a reattaching dashboard replays the batches so far, and `o` opens the run the
header shows — not the queue cursor's."""

from __future__ import annotations

import asyncio

from textual.widgets import DataTable, Static
from tui_helpers import async_test, tiny_config, wait_for

from cnnlab_tui.app import CnnlabApp
from cnnlab_tui.screens.live import LiveScreen
from cnnlab_tui.widgets.charts import MetricChart
from engine.trainer.config import TrainConfig


async def submit(app: CnnlabApp, **config) -> str:
    view = await asyncio.to_thread(app.runner.submit_run, TrainConfig(**tiny_config(**config)))
    return view["queue_id"]


@async_test
async def test_loss_chart_draws_batches_smoothed_and_epoch_markers(tmp_path, runs):
    app = CnnlabApp(tmp_path, runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f2")
        queue_id = await submit(app, data_root=str(tmp_path), epochs=2, max_train_batches=4)
        await wait_for(pilot, lambda: app.runner.get(queue_id) is not None, what="its entry")
        run = app.runner.get(queue_id)
        await wait_for(pilot, lambda: run.state == "finished", timeout=120, what="the run")
        await pilot.pause(0.6)  # the batch redraw timer
        assert run.status == "completed", run.error
        live = app.screen
        assert isinstance(live, LiveScreen)
        loss = live.query_one("#loss-chart", MetricChart)
        series = loss.series
        first_epoch = [x for x in series["batch"][0] if x <= 1.0]
        assert len(first_epoch) > 1  # more than one point per series after one epoch
        assert len(series["smoothed"][0]) == len(series["batch"][0])
        assert series["train"][0] == [1, 2] and series["test"][0] == [1, 2]
        markers = {label: loss.marker_of(label) for label in series}
        assert len(set(markers.values())) == 4
        text = loss.rendered_text()
        assert "x" in text and "+" in text  # the epoch means' own markers are drawn
        legend = str(live.query_one("#chart-legend").render())  # the line under the charts
        assert f"loss: {loss.legend_text}" in legend and "smoothed" in legend
        lr = live.query_one("#lr-chart", MetricChart).series["lr"]
        assert len(lr[0]) == len(series["batch"][0]) and all(v > 0 for v in lr[1])
        await pilot.press("l")
        await pilot.pause()
        assert loss.log_y and "(log y)" in loss.rendered_text().splitlines()[0]
        await pilot.press("l")
        assert not loss.log_y


@async_test
async def test_a_dashboard_attaching_mid_run_shows_the_batches_so_far(tmp_path, runs):
    app = CnnlabApp(tmp_path, runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f2")
        # many epochs: it must still run when the second dashboard attaches (cancelled below)
        queue_id = await submit(app, data_root=str(tmp_path), epochs=50_000, max_train_batches=4)
        await wait_for(pilot, lambda: app.runner.get(queue_id) is not None
                       and len(app.runner.get(queue_id).metrics) >= 2, timeout=120,
                       what="two epochs")  # fmt: skip
        await pilot.pause()
    again = CnnlabApp(tmp_path, runs)  # a second dashboard: the snapshot replays batches
    async with again.run_test(size=(120, 40)) as pilot:
        await pilot.press("f2")
        await wait_for(pilot, lambda: again.runner.synced, timeout=30, what="the snapshot")
        await pilot.pause(0.6)
        live = again.screen
        assert isinstance(live, LiveScreen)
        batches = live.query_one("#loss-chart", MetricChart).series["batch"][0]
        assert len([x for x in batches if x <= 1.0]) > 1  # epoch 1's batches, replayed
        assert live.query_one("#lr-chart", MetricChart).series["lr"][0][0] <= 1.0
        await asyncio.to_thread(again.runner.cancel, queue_id)
        run = again.runner.get(queue_id)
        await wait_for(pilot, lambda: run.state == "finished", timeout=60, what="cancelled")


@async_test
async def test_detail_opens_the_run_the_header_shows_not_the_queue_cursor(tmp_path, runs):
    app = CnnlabApp(tmp_path, runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f2")
        first = await submit(app, data_root=str(tmp_path), epochs=1, max_train_batches=2)
        second = await submit(app, data_root=str(tmp_path), epochs=1, max_train_batches=2)
        await wait_for(pilot, lambda: all(app.runner.get(q) is not None
                       and app.runner.get(q).state == "finished" for q in (first, second)),
                       timeout=120, what="both runs")  # fmt: skip
        await pilot.pause()
        live = app.screen
        assert isinstance(live, LiveScreen)
        header = str(live.query_one("#run-line", Static).render())
        shown = app.runner.current
        assert shown.queue_id in header and shown.run_id in header
        other = first if shown.queue_id == second else second
        table = live.query_one("#queue", DataTable)
        table.move_cursor(row=table.get_row_index(other))
        await pilot.pause()
        opened: list[str] = []
        app.open_detail = opened.append  # record what `o` asks for (the screen is not ours)
        await pilot.press("o")
        assert opened == [shown.run_id]
        assert opened[0] != app.runner.get(other).run_id
