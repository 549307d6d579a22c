"""Live's charts without an engine: TensorBoard's smoothing against a hand computation,
distinct markers per series and a legend outside the plot, log scale, NO_COLOR, the
batch rows placed in fractional epochs."""

from __future__ import annotations

import math

import pytest
from textual.app import App, ComposeResult
from tui_helpers import async_test

from cnnlab_tui.screens.live import batch_curves, batch_x, thin
from cnnlab_tui.smoothing import ema_debiased
from cnnlab_tui.widgets.charts import MetricChart, marker_symbol


def test_ema_with_debias_matches_a_hand_computation():
    # w = 0.6: last1 = 0.4*1 = 0.4, /(1-0.6) = 1.0; last2 = 0.24 + 0.4*3 = 1.44, /(1-0.36)
    # = 2.25; last3 = 0.864 + 0.4*2 = 1.664, /(1-0.216) = 2.12244…
    assert ema_debiased([1.0, 3.0, 2.0], 0.6) == pytest.approx([1.0, 2.25, 1.664 / 0.784])
    assert ema_debiased([5.0, 5.0, 5.0]) == pytest.approx([5.0, 5.0, 5.0])  # no pull to 0
    nan_kept = ema_debiased([1.0, float("nan"), 1.0], 0.6)
    assert math.isnan(nan_kept[1]) and nan_kept[2] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        ema_debiased([1.0], 1.0)


def test_batch_rows_sit_in_fractional_epochs():
    rows = [{"epoch": 1, "batch": b, "batch_loss": 1.0 / b, "lr": 0.1} for b in (1, 2, 4)]
    rows += [{"epoch": 2, "batch": 1, "batch_loss": 0.2}]
    assert batch_x(rows, num_batches=4) == [0.25, 0.5, 1.0, 1.25]
    xs, lrs = batch_curves(rows, 4, key="lr")
    assert xs == [0.25, 0.5, 1.0] and lrs == [0.1, 0.1, 0.1]
    xs, ys = thin(list(range(10)), list(range(10)), most=3)
    assert xs[0] == 0 and xs[-1] == 9 and len(xs) <= 5


class ChartApp(App):
    def compose(self) -> ComposeResult:
        yield MetricChart("loss", "loss", id="chart")


@async_test
async def test_each_series_has_its_own_marker_and_the_legend_is_above_the_plot():
    app = ChartApp()
    async with app.run_test(size=(80, 24)) as pilot:
        chart = app.query_one(MetricChart)
        chart.set_series({"train": ([1, 2, 3], [3.0, 2.0, 1.0]),
                          "test": ([1, 2, 3], [1.0, 2.0, 3.0]),
                          "val": ([1, 2, 3], [2.0, 2.5, 2.0])})  # fmt: skip
        await pilot.pause()
        markers = [chart.marker_of(label) for label in ("train", "test", "val")]
        assert len(set(markers)) == 3
        text = chart.rendered_text()
        lines = text.splitlines()
        # the legend is the title line, above the plot's frame; nothing inside names a series
        assert lines[0].strip().startswith("loss:") and "train" in lines[0]
        assert not any("train" in line or "test" in line for line in lines[1:])
        body = "\n".join(lines[1:])
        assert "•" in body and "x" in body  # the second and third series' own markers
        assert any(0x2800 < ord(ch) <= 0x28FF for ch in body)  # the first: braille
        assert marker_symbol(markers[1]) in lines[0]


@async_test
async def test_log_scale_is_shown_and_no_color_draws_without_colour(monkeypatch):
    app = ChartApp()
    async with app.run_test(size=(80, 24)) as pilot:
        chart = app.query_one(MetricChart)
        chart.set_series({"train": ([1, 2, 3], [100.0, 10.0, 1.0])})
        chart.set_log_y(True)
        await pilot.pause()
        assert "(log y)" in chart.rendered_text().splitlines()[0]
        monkeypatch.delenv("NO_COLOR", raising=False)
        chart._draw()
        coloured = chart.plt.build()
        monkeypatch.setenv("NO_COLOR", "1")
        chart._draw()
        plain = chart.plt.build()
        assert "\x1b[" in coloured
        # under NO_COLOR no series colour is used (only the theme's default fg/bg remain)
        assert plain.count("\x1b[") < coloured.count("\x1b[")
