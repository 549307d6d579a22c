"""Turn aggregates and runs into the report's PNG figures, each with its caption.

Captions are in the report's language; text inside the charts is in `chart_text`'s
language (English unless a CJK font exists — see `i18n.chart_language`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.report import charts
from engine.report.content import SettingRow, metric_scale, primary_metric
from engine.report.i18n import Text
from engine.use.pictures import save_png

log = logging.getLogger(__name__)

FIGURES_FOLDER = "figures"
MAX_SAMPLE_ROWS = 4


@dataclass(frozen=True)
class Figure:
    """A PNG written under the report folder: `path` is relative to report.md."""

    path: str
    caption: str


@dataclass
class FigureMaker:
    """Numbers figures in order and writes them under `<out_dir>/figures/`."""

    out_dir: Path
    text: Text
    chart_text: Text
    font: str | None = None
    count: int = 0
    written: list[Path] = field(default_factory=list)

    def _next(self, stem: str) -> tuple[int, Path, str]:
        self.count += 1
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)[:80]
        name = f"{self.count:02d}-{safe}.png"
        return self.count, self.out_dir / FIGURES_FOLDER / name, f"{FIGURES_FOLDER}/{name}"

    def _done(self, path: Path, relative: str, caption: str) -> Figure:
        self.written.append(path)
        return Figure(relative, caption)

    def setting_curves(self, rows: Sequence[SettingRow], metric: str, tag: str) -> Figure | None:
        """Mean ± std over seeds of `metric` per epoch, one line per setting."""
        scale = metric_scale(metric)
        series = []
        for row in rows:
            curve = row.aggregate.curves.get(metric)
            if curve is None:
                continue
            series.append(
                charts.Series(
                    row.legend,
                    curve.epochs,
                    [v * scale for v in curve.mean],
                    [v * scale for v in curve.std],
                )
            )
        if not series:
            return None
        number, path, relative = self._next(f"{tag}-{metric}-curves")
        name = self.chart_text.metric(metric)
        charts.line_chart(
            series,
            path,
            title=name,
            xlabel=self.chart_text.metric("epoch"),
            ylabel=name,
            font=self.font,
        )
        caption = self.text("fig_curve", n=number, metric=self.text.metric(metric))
        return self._done(path, relative, caption)

    def setting_bars(self, rows: Sequence[SettingRow], metric: str, tag: str) -> Figure | None:
        """Final `metric` per setting as bars with ±std error bars."""
        present = [row for row in rows if metric in row.aggregate.final]
        if not present:
            return None
        scale = metric_scale(metric)
        stats = [row.aggregate.final[metric] for row in present]
        number, path, relative = self._next(f"{tag}-{metric}-bars")
        charts.bar_chart(
            [row.legend for row in present],
            [s.mean * scale for s in stats],
            [s.std * scale for s in stats],
            path,
            title=self.chart_text.metric(metric),
            xlabel=self.chart_text.metric(metric),
            font=self.font,
        )
        key = "fig_seconds" if metric == "seconds_per_epoch" else "fig_bars"
        caption = self.text(key, n=number, metric=self.text.metric(metric))
        return self._done(path, relative, caption)

    def run_curves(self, record: Any) -> Figure | None:
        """Loss and accuracy (or PSNR and SSIM) per epoch, train vs test, for one run."""
        rows = record.metrics or []
        if not rows:
            return None
        task = (record.summary or {}).get("task")
        loss = (self.chart_text.metric("loss"), self._series(rows, ["train_loss", "test_loss"]))
        if task == "dehaze":
            panels = [
                loss,
                (self.chart_text.metric("test_psnr"), self._series(rows, ["test_psnr"])),
                (self.chart_text.metric("test_ssim"), self._series(rows, ["test_ssim"])),
            ]
        else:
            accuracy = self._series(rows, ["train_acc", "test_acc"])
            panels = [loss, (self.chart_text.metric("accuracy"), accuracy)]
        panels = [(label, series) for label, series in panels if series]
        if not panels:
            return None
        number, path, relative = self._next(f"run-{record.run_id}-curves")
        charts.panel_chart(
            panels,
            path,
            title=record.run_id,
            xlabel=self.chart_text.metric("epoch"),
            font=self.font,
        )
        metric = self.text.metric("test_psnr" if task == "dehaze" else "accuracy")
        caption = self.text("fig_run_curves", n=number, metric=metric, run_id=record.run_id)
        return self._done(path, relative, caption)

    def _series(self, rows: list[dict[str, Any]], keys: list[str]) -> list[charts.Series]:
        series = []
        for key in keys:
            points = [
                (row["epoch"], row[key] * metric_scale(key))
                for row in rows
                if isinstance(row.get(key), (int, float)) and isinstance(row.get("epoch"), int)
            ]
            if points:
                split = "train" if key.startswith("train") else "test"
                xs, ys = zip(*points, strict=True)
                series.append(
                    charts.Series(self.chart_text.metric(split), xs, ys, dashed=split == "train")
                )
        return series

    def confusion(self, record: Any) -> Figure | None:
        summary = record.summary or {}
        matrix, classes = summary.get("confusion"), summary.get("classes")
        if not matrix or not classes or len(matrix) != len(classes):
            return None
        number, path, relative = self._next(f"run-{record.run_id}-confusion")
        charts.confusion_chart(
            matrix,
            classes,
            path,
            title=record.run_id,
            xlabel="predicted" if self.chart_text.lang == "en" else "预测类别",
            ylabel="true" if self.chart_text.lang == "en" else "真实类别",
            font=self.font,
        )
        return self._done(path, relative, self.text("fig_confusion", n=number))

    def dehaze_samples(self, record: Any, dcp: Any | None) -> Figure | None:
        """hazy | output | (DCP) | clear for a few test images of a dehazing run."""
        own = sample_panels(record)
        if not own:
            return None
        dcp_panels = sample_panels(dcp) if dcp is not None and dcp is not record else {}
        keys = sorted(own)[:MAX_SAMPLE_ROWS]
        with_dcp = bool(dcp_panels) and all(key in dcp_panels for key in keys)
        grid = []
        for key in keys:
            hazy, output, clear = own[key]
            row = [hazy, output] + ([dcp_panels[key][1]] if with_dcp else []) + [clear]
            grid.append(row)
        columns = ["col_hazy", "col_output"] + (["col_dcp"] if with_dcp else []) + ["col_clear"]
        titles = [_english(c) if self.chart_text.lang == "en" else self.text(c) for c in columns]
        number, path, relative = self._next(f"run-{record.run_id}-samples")
        charts.image_grid(grid, titles, path, font=self.font)
        caption = self.text(
            "fig_dehaze", n=number, columns=" | ".join(self.text(c) for c in columns)
        )
        return self._done(path, relative, caption)

    def explanation(self, record: Any) -> list[Figure]:
        """`cnnlab explain`'s pictures of the run, when it was explained: its worst test
        images (with Grad-CAM), first-layer filters and one block's feature maps."""
        from engine.report.explained import explanation_pictures

        figures = []
        for stem, picture, key, values in explanation_pictures(record):
            number, path, relative = self._next(f"run-{record.run_id}-{stem}")
            save_png(picture, path)
            figures.append(self._done(path, relative, self.text(key, n=number, **values)))
        return figures


def _english(key: str) -> str:
    return Text("en")(key)


def sample_panels(record: Any) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The latest epoch's triptychs, split into (hazy, output, clear), keyed by test image."""
    from PIL import Image

    from engine.trainer.samples import GAP

    base = Path(record.path) if getattr(record, "path", None) else None
    names = (record.summary or {}).get("samples") or []
    if base is None:
        return {}
    if not names and (base / "samples").is_dir():
        files = sorted((base / "samples").glob("*.png"))
        last_epoch = files[-1].name.split("_", 1)[0] if files else ""
        names = [f"samples/{f.name}" for f in files if f.name.startswith(last_epoch)]
    panels = {}
    for name in names:
        path = base / name
        try:
            with Image.open(path) as image:
                pixels = np.asarray(image.convert("RGB"))
        except OSError as exc:
            log.warning("skipping sample %s (%s)", path, exc)
            continue
        width = (pixels.shape[1] - 2 * GAP) // 3
        if width <= 0:
            continue
        key = Path(name).stem.split("_", 1)[-1]  # drop "epochNNN_": same image across runs
        panels[key] = (
            pixels[:, :width],
            pixels[:, width + GAP : 2 * width + GAP],
            pixels[:, 2 * (width + GAP) : 3 * width + 2 * GAP],
        )
    return panels


def results_figures(
    rows: Sequence[SettingRow], task: str, maker: FigureMaker, tag: str
) -> list[Figure]:
    """Curves of the primary metric and test loss, final-metric bars, time bars."""
    metric = primary_metric(task)
    candidates = [
        maker.setting_curves(rows, metric, tag),
        maker.setting_curves(rows, "test_loss", tag),
        maker.setting_bars(rows, metric, tag) if len(rows) > 1 else None,
        maker.setting_bars(rows, "seconds_per_epoch", tag) if len(rows) > 1 else None,
    ]
    return [figure for figure in candidates if figure is not None]
