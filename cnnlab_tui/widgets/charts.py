"""Metric curves drawn in the terminal with textual-plotext.

`MetricChart` keeps its series as plain data and redraws from them on every render, so a
resize or a theme change never loses a curve and callers never touch plotext state.
Live run, Run detail and Compare all draw through `set_series`.

A *band* (mean ± std over seeds) is drawn as two dotted lines in its curve's colour:
plotext cannot fill between braille lines, and the legend says so.

Colour is never the only signal: each series has its own marker (braille, •, x, +…), and
the legend is a line in the title naming each series by its marker — outside the plot, so
it never covers a curve at small sizes. With `NO_COLOR` set the curves are drawn without
colour. `log_y` draws the y axis in log scale (non-positive points are left out).
"""

from __future__ import annotations

import math
import os
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
# Columns of a chart the title cannot use (plotext centres it over the plot beside the
# y ticks, and drops a title wider than that).
TITLE_MARGIN = 10
# One marker per series, in order: distinct shapes so curves differ without colour.
SERIES_MARKERS: tuple[str, ...] = ("braille", "•", "x", "+", "o", "*", "#", "@")
# How the legend shows plotext's named markers (single characters show as themselves).
MARKER_SYMBOLS = {"braille": "⣿", "hd": "▚", "fhd": "▚", "sd": "▌", "dot": "·"}


def no_color() -> bool:
    """True when the NO_COLOR convention (any non-empty value) asks for no colour."""
    return bool(os.environ.get("NO_COLOR"))


def marker_symbol(marker: str) -> str:
    """The character a legend shows for a plotext marker."""
    return MARKER_SYMBOLS.get(marker, marker)


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
        legend_in_title: bool = True,
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
        self._markers: dict[str, str] = {}
        # False when the screen shows `legend_text` on a line of its own (a narrow chart's
        # title has no room for it)
        self.legend_in_title = legend_in_title
        self._points: set[str] = set()
        self._colors: dict[str, str] = {}
        self.log_y = False

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
        markers: dict[str, str] | None = None,
        points: set[str] | None = None,
        colors: dict[str, str] | None = None,
    ) -> None:
        """Replace every curve at once; `title`/`ylabel` of None keep the current ones.

        `bands` maps a curve's label to (x, lower, upper): drawn dotted in its colour;
        `markers` a label to its plotext marker (else one of `SERIES_MARKERS` by order);
        `points` the labels drawn as separate markers, unjoined (e.g. epoch means);
        `colors` a label to its colour (e.g. gray for a faint raw curve), else by order."""
        self._markers = dict(markers or {})
        self._colors = dict(colors or {})
        self._points = set(points or ())
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

    def set_log_y(self, on: bool) -> None:
        """Draw the y axis in log scale (or back to linear); the title says which."""
        self.log_y = bool(on)
        self.refresh()

    def marker_of(self, label: str) -> str:
        """The plotext marker series `label` is drawn with."""
        if label in self._markers:
            return self._markers[label]
        index = list(self._series).index(label) if label in self._series else 0
        if label in self._bands and index == 0:
            return MEAN_MARKER  # solid blocks stand out of the band's dots
        return SERIES_MARKERS[index % len(SERIES_MARKERS)]

    @property
    def legend_text(self) -> str:
        """`⣿ train  • test` — each series by its marker, as the title line shows it."""
        parts = [f"{marker_symbol(self.marker_of(label))} {label}" for label in self._series]
        if self._bands:
            parts.append(f"{marker_symbol(BAND_MARKER)} {BAND_LEGEND}")
        return "  ".join(parts)

    @property
    def shown_title(self) -> str:
        """The title line drawn above the plot: title, log state, legend."""
        return self.fitted_title(None)

    def fitted_title(self, width: int | None) -> str:
        """The title line made to fit `width` columns (plotext drops a longer one): the
        legend packed tighter, then cut with `…`."""
        title = self._title + (" (log y)" if self.log_y else "")
        legend = self.legend_text if self.legend_in_title else ""
        line = f"{title}: {legend}" if title and legend else title or legend
        if width is None or len(line) <= width:
            return line
        packed = " ".join(
            f"{marker_symbol(self.marker_of(label))}{label}" for label in self._series
        )
        line = f"{title} {packed}".strip()
        return line if len(line) <= width else line[: max(1, width - 1)] + "…"

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
        plt.xlabel(self._xlabel)
        plt.ylabel(self._ylabel)
        plt.yscale("log" if self.log_y else "linear")
        drawn = 0
        all_x: list[float] = self._draw_bands()
        for index, (label, (xs, ys)) in enumerate(self._series.items()):
            px, py = self._plottable(xs, ys)
            if not px:
                continue
            draw = plt.scatter if label in self._points else plt.plot
            color = _color(index) if no_color() else self._colors.get(label, _color(index))
            draw(px, py, color=color, marker=self.marker_of(label))
            all_x.extend(px)
            drawn += 1
        ticks = integer_ticks(all_x)
        if ticks:
            plt.xticks(ticks)
        if drawn:
            plt.title(self.fitted_title(max(1, (self.size.width or 60) - TITLE_MARGIN)))
        else:
            plt.title(f"{self._title} — no data yet" if self._title else "no data yet")

    def _plottable(self, xs: Sequence[float], ys: Sequence[float]) -> tuple[list, list]:
        px, py = _finite_points(xs, ys)
        if self.log_y:
            kept = [(x, y) for x, y in zip(px, py, strict=True) if y > 0]
            px, py = [x for x, _ in kept], [y for _, y in kept]
        return px, py

    def _draw_bands(self) -> list[float]:
        """Dotted lower/upper lines under the curves; the legend line explains them all."""
        xs_drawn: list[float] = []
        for index, label in enumerate(self._series):
            if label not in self._bands:
                continue
            xs, lower, upper = self._bands[label]
            for ys in (lower, upper):
                px, py = self._plottable(xs, ys)
                if px:
                    self.plt.plot(px, py, color=_color(index), marker=BAND_MARKER)
                    xs_drawn.extend(px)
        return xs_drawn

    def rendered_text(self, width: int | None = None, height: int | None = None) -> str:
        """The chart as plain text at its size (or the one given): what the screen shows,
        without colour — for tests and for reading markers."""
        self._draw()
        if width:
            self.plt.title(self.fitted_title(max(1, width - TITLE_MARGIN)))
        self.plt.plotsize(width or self.size.width or 60, height or self.size.height or 15)
        return self.plt.uncolorize(self.plt.build())

    def render(self) -> RenderResult:
        self._draw()
        return super().render()


def _color(index: int) -> str:
    """Series `index`'s colour; the terminal's default one under NO_COLOR."""
    return "default" if no_color() else SERIES_COLORS[index % len(SERIES_COLORS)]
