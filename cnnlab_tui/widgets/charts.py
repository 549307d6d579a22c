"""Metric curves drawn in the terminal with textual-plotext.

`MetricChart` keeps its series as plain data and redraws from them on every render, so a
resize or a theme change never loses a curve and callers never touch plotext state.
Live run, Run detail and Compare all draw through `set_series`.

A *band* (mean ± std over seeds) is drawn as two dotted lines in its curve's colour:
plotext cannot fill between braille lines, and the legend says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from textual.app import RenderResult
from textual_plotext import PlotextPlot

# Distinct plotext colours, in the order series are given; chosen to stay readable on
# both dark and light themes and in 256-colour terminals.
SERIES_COLORS: tuple[str, ...] = (
    "cyan",
    "orange",
    "green",
    "magenta",
    "red",
    "blue",
    "yellow",
    "white",
)

Series = dict[str, tuple[list[float], list[float]]]
Bands = dict[str, tuple[list[float], list[float], list[float]]]  # label → (x, lower, upper)
BAND_MARKER = "·"
MEAN_MARKER = "hd"  # quadrant blocks: thicker than braille, so the mean reads as the line
BAND_LEGEND = "±1 std over seeds (dotted)"


def _finite_points(xs: Sequence[float], ys: Sequence[float]) -> tuple[list[float], list[float]]:
    """Drop NaN/inf points (a diverged epoch) so plotext's axis scaling stays sane."""
    kept_x: list[float] = []
    kept_y: list[float] = []
    for x, y in zip(xs, ys, strict=False):
        if y is None or x is None:
            continue
        fx, fy = float(x), float(y)
        if math.isfinite(fx) and math.isfinite(fy):
            kept_x.append(fx)
            kept_y.append(fy)
    return kept_x, kept_y


def integer_ticks(xs: Sequence[float], max_ticks: int = 8) -> list[int] | None:
    """Whole-number x ticks (epochs) when every x is a whole number; None otherwise."""
    if not xs or any(not float(x).is_integer() for x in xs):
        return None
    low, high = int(min(xs)), int(max(xs))
    step = max(1, math.ceil((high - low + 1) / max_ticks))
    return list(range(low, high + 1, step))


class MetricChart(PlotextPlot):
    """One chart of one or more named curves (e.g. train/test loss), one colour each, legend."""

    DEFAULT_CSS = """
    MetricChart {
        width: 1fr;
        height: 1fr;
        min-height: 6;
    }
    """

    def __init__(
        self,
        title: str = "",
        ylabel: str = "",
        *,
        xlabel: str = "epoch",
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's own parameter name
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._series: Series = {}
        self._bands: Bands = {}
        self._title = title
        self._ylabel = ylabel
        self._xlabel = xlabel

    @property
    def series(self) -> Series:
        """A copy of the curves currently shown (what tests and callers can inspect)."""
        return {k: (list(x), list(y)) for k, (x, y) in self._series.items()}

    @property
    def bands(self) -> Bands:
        """A copy of the ±std bands shown, by the label of their curve."""
        return {k: (list(x), list(lo), list(hi)) for k, (x, lo, hi) in self._bands.items()}

    @property
    def chart_title(self) -> str:
        return self._title

    def set_series(
        self,
        series: Series,
        title: str | None = None,
        ylabel: str | None = None,
        *,
        bands: Bands | None = None,
    ) -> None:
        """Replace every curve at once; `title`/`ylabel` of None keep the current ones.

        `bands` maps a curve's label to (x, lower, upper): drawn dotted in its colour."""
        self._series = {str(label): (list(xs), list(ys)) for label, (xs, ys) in series.items()}
        self._bands = {
            str(label): (list(xs), list(lo), list(hi))
            for label, (xs, lo, hi) in (bands or {}).items()
            if str(label) in self._series
        }
        if title is not None:
            self._title = title
        if ylabel is not None:
            self._ylabel = ylabel
        self.refresh()

    def append_point(self, label: str, x: float, y: float) -> None:
        """Add one point to a curve (created when new) — the live run's per-epoch update."""
        xs, ys = self._series.setdefault(label, ([], []))
        xs.append(float(x))
        ys.append(float(y))
        self.refresh()

    def clear(self) -> None:
        """Remove every curve (a new run starts)."""
        self._series = {}
        self._bands = {}
        self.refresh()

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.title(self._title)
        plt.xlabel(self._xlabel)
        plt.ylabel(self._ylabel)
        drawn = 0
        all_x: list[float] = self._draw_bands()
        for index, (label, (xs, ys)) in enumerate(self._series.items()):
            px, py = _finite_points(xs, ys)
            if not px:
                continue
            color = SERIES_COLORS[index % len(SERIES_COLORS)]
            # A curve with a band is drawn in solid blocks so it stands out of its dots.
            marker = MEAN_MARKER if label in self._bands else "braille"
            plt.plot(px, py, label=label, color=color, marker=marker)
            all_x.extend(px)
            drawn += 1
        ticks = integer_ticks(all_x)
        if ticks:
            plt.xticks(ticks)
        if not drawn:
            plt.title(f"{self._title} — no data yet" if self._title else "no data yet")

    def _draw_bands(self) -> list[float]:
        """Dotted lower/upper lines under the curves; one legend entry explains them all."""
        legend = BAND_LEGEND
        xs_drawn: list[float] = []
        for index, label in enumerate(self._series):
            if label not in self._bands:
                continue
            xs, lower, upper = self._bands[label]
            color = SERIES_COLORS[index % len(SERIES_COLORS)]
            for ys in (lower, upper):
                px, py = _finite_points(xs, ys)
                if px:
                    self.plt.plot(px, py, color=color, marker=BAND_MARKER, label=legend)
                    legend = None
                    xs_drawn.extend(px)
        return xs_drawn

    def render(self) -> RenderResult:
        self._draw()
        return super().render()
