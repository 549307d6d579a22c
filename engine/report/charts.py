"""Report charts as PNG files, drawn with matplotlib's object API on the Agg canvas.

Figures are built from `matplotlib.figure.Figure` directly (never `pyplot`), so no display,
no global backend switch and no figure registry are involved: each chart is created,
rendered to its file and dropped. Every function takes already-translated text, so the
charts know nothing about languages.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# A colour-blind-friendly cycle (Okabe–Ito), in the order settings are listed.
COLORS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
DPI = 120


@dataclass(frozen=True)
class Series:
    """One line: x values, y values, and optionally a ±band (same length as y)."""

    label: str
    x: Sequence[float]
    y: Sequence[float]
    band: Sequence[float] | None = None
    dashed: bool = False


@contextlib.contextmanager
def _font(family: str | None) -> Iterator[None]:
    """Draw with `family` (a CJK font for Chinese text) when given; defaults otherwise."""
    if family is None:
        yield
        return
    import matplotlib

    with matplotlib.rc_context(
        {"font.family": "sans-serif", "font.sans-serif": [family, "DejaVu Sans"]}
    ):
        yield


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI)
    return path


def _draw_series(axes, series: Sequence[Series]) -> None:
    for number, line in enumerate(series):
        color = COLORS[number % len(COLORS)]
        x = np.asarray(line.x, dtype=float)
        y = np.asarray(line.y, dtype=float)
        style = "--" if line.dashed else "-"
        axes.plot(x, y, style, color=color, label=line.label, marker="o", markersize=3)
        if line.band is not None and len(x) > 0:
            band = np.nan_to_num(np.asarray(line.band, dtype=float))
            axes.fill_between(x, y - band, y + band, color=color, alpha=0.2, linewidth=0)
    if len(series) > 0:
        axes.legend(fontsize="small", loc="best")
    axes.grid(True, alpha=0.3)


def line_chart(
    series: Sequence[Series],
    path: Path,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    font: str | None = None,
) -> Path:
    """Curves over epochs, each with its ±std band when it has one."""
    with _font(font):
        figure = _figure(7.0, 4.2)
        axes = figure.add_subplot()
        _draw_series(axes, series)
        axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
        axes.xaxis.get_major_locator().set_params(integer=True)
        return _save(figure, path)


def panel_chart(
    panels: Sequence[tuple[str, Sequence[Series]]],
    path: Path,
    *,
    title: str,
    xlabel: str,
    font: str | None = None,
) -> Path:
    """Side-by-side panels (loss | accuracy), each a set of curves over epochs."""
    with _font(font):
        figure = _figure(4.2 * max(len(panels), 1), 3.8)
        for number, (ylabel, series) in enumerate(panels, start=1):
            axes = figure.add_subplot(1, len(panels), number)
            _draw_series(axes, series)
            axes.set(xlabel=xlabel, ylabel=ylabel)
            axes.xaxis.get_major_locator().set_params(integer=True)
        figure.suptitle(title)
        return _save(figure, path)


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    errors: Sequence[float],
    path: Path,
    *,
    title: str,
    xlabel: str,
    font: str | None = None,
) -> Path:
    """Horizontal bars with ±std error bars: long setting labels stay readable."""
    with _font(font):
        figure = _figure(7.0, 1.2 + 0.45 * max(len(labels), 1))
        axes = figure.add_subplot()
        positions = np.arange(len(labels))
        means = np.nan_to_num(np.asarray(values, dtype=float))
        spread = np.nan_to_num(np.asarray(errors, dtype=float))
        colors = [COLORS[i % len(COLORS)] for i in range(len(labels))]
        axes.barh(positions, means, xerr=spread, color=colors, capsize=4, alpha=0.85)
        axes.set_yticks(positions, labels=list(labels), fontsize="small")
        axes.invert_yaxis()  # first setting on top, as in the table
        for position, mean, err in zip(positions, means, spread, strict=True):
            axes.annotate(
                f"{mean:.3g}",
                (mean + err, position),
                xytext=(6, 0),
                textcoords="offset points",
                va="center",
                fontsize="small",
            )
        axes.margins(x=0.12)  # room for the value labels right of the bars
        axes.set(title=title, xlabel=xlabel)
        axes.grid(True, axis="x", alpha=0.3)
        return _save(figure, path)


def confusion_chart(
    matrix: Sequence[Sequence[float]],
    classes: Sequence[str],
    path: Path,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    font: str | None = None,
) -> Path:
    """The confusion matrix as a heat map with the count in every cell."""
    size = max(3.0, 0.6 * len(classes) + 2.0)
    with _font(font):
        figure = _figure(size + 0.8, size)
        axes = figure.add_subplot()
        draw_confusion(axes, matrix, classes)
        axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
        return _save(figure, path)


CONFUSION_CMAP = "cividis"  # dark blue → yellow by lightness: safe for colour-blind readers


def draw_confusion(axes: Any, matrix: Sequence[Sequence[float]], classes: Sequence[str]) -> Any:
    """Counts on a colour-blind-safe ramp, each written in its cell; the diagonal (right
    answers) bold and outlined, so it reads in grey-scale print too. Returns the image."""
    from matplotlib.patches import Rectangle

    counts = np.asarray(matrix, dtype=float)
    image = axes.imshow(counts, cmap=CONFUSION_CMAP)
    axes.figure.colorbar(image, ax=axes, shrink=0.8)
    ticks = np.arange(len(classes))
    axes.set_xticks(ticks, labels=list(classes), rotation=45, ha="right", fontsize="small")
    axes.set_yticks(ticks, labels=list(classes), fontsize="small")
    threshold = counts.max() / 2 if counts.size else 0
    for (row, col), value in np.ndenumerate(counts):
        right = row == col
        axes.text(
            col,
            row,
            f"{value:g}",
            ha="center",
            va="center",
            fontsize="small",
            fontweight="bold" if right else "normal",
            color="black" if value > threshold else "white",  # cividis is light at the top
        )
        if right:
            box = Rectangle(
                (col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=1.5
            )
            axes.add_patch(box)
    return image


def image_grid(
    rows: Sequence[Sequence[np.ndarray]],
    column_titles: Sequence[str],
    path: Path,
    *,
    font: str | None = None,
) -> Path:
    """Images in a grid (one test image per row), titled by column."""
    columns = max((len(row) for row in rows), default=1)
    with _font(font):
        figure = _figure(2.2 * columns, 2.2 * max(len(rows), 1) + 0.3)
        for r, row in enumerate(rows):
            for c, picture in enumerate(row):
                axes = figure.add_subplot(len(rows), columns, r * columns + c + 1)
                axes.imshow(picture)
                axes.set_axis_off()
                if r == 0 and c < len(column_titles):
                    axes.set_title(column_titles[c], fontsize="small")
        return _save(figure, path)
