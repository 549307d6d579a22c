"""What the report says, as plain data: tables, observations and HDC checks.

Nothing here draws or writes files; numbers are formatted once (`format_metric`), the same
way for every language, so the English and Chinese reports hold identical figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine.report.i18n import Text
from engine.sweeps.aggregate import MeanStd, SettingAggregate, flat_config
from engine.sweeps.grid import format_value

PERCENT_METRICS = ("acc",)  # fractions shown as percentages
METRIC_COLUMNS = {
    "classify": ("test_acc", "best_test_acc", "test_loss", "train_acc"),
    "dehaze": ("test_psnr", "test_ssim", "best_test_psnr", "test_loss"),
}
LABEL_LIMIT = 38  # legend labels longer than this are shortened (the table has them whole)


def is_percent(metric: str) -> bool:
    return metric.endswith("_acc")


def metric_digits(metric: str) -> int:
    if is_percent(metric) or "psnr" in metric or metric.startswith("seconds"):
        return 2
    return 4


def format_metric(metric: str, stats: MeanStd | None) -> str:
    """`81.25 ± 1.30` for accuracies (in %), `0.5123 ± 0.0101` for losses, …"""
    if stats is None:
        return "–"
    if metric == "params":
        return f"{stats.mean:,.0f}" if stats.n else "–"
    return stats.format(metric_digits(metric), scale=100.0 if is_percent(metric) else 1.0)


def metric_scale(metric: str) -> float:
    return 100.0 if is_percent(metric) else 1.0


def primary_metric(task: str | None) -> str:
    return "test_psnr" if task == "dehaze" else "test_acc"


def task_of(records: Sequence[Any]) -> str:
    """`dehaze` when every run dehazes, else `classify`."""
    tasks = {(record.summary or {}).get("task") for record in records} - {None}
    return "dehaze" if tasks == {"dehaze"} else "classify"


@dataclass
class SettingRow:
    """One setting in the results: its short id (S1…), values of the differing fields."""

    ident: str
    aggregate: SettingAggregate
    values: dict[str, Any]
    short: str = ""  # the chart legend `setting_rows` chose (unique among the rows)

    @property
    def label(self) -> str:
        """`lr=0.01 batch_size=32` (fields a run does not have are left out)."""
        return " ".join(f"{k}={format_value(v)}" for k, v in self.values.items()) or "base"

    @property
    def model(self) -> str:
        """The model its runs train (`?` when no run says)."""
        models = [(r.config or {}).get("model") for r in self.aggregate.records]
        return next((str(m) for m in models if m), "?")

    @property
    def legend(self) -> str:
        """Chart legend: what this setting is (its differing values, else its model), never
        a bare S1 a reader must look up in the table."""
        return self.short or compact_label(self)


def compact_label(row: SettingRow, limit: int = LABEL_LIMIT) -> str:
    """The setting in few characters: the label when short; else the model's name bare
    (`dilated`) and model options without their `model.` prefix; cut with `…` past
    `limit`. No differing values (one setting): the model's name."""
    if not row.values:
        return row.model
    if len(row.label) <= limit:
        return row.label
    parts = []
    for key, value in row.values.items():
        if key == "model":
            parts.insert(0, format_value(value))
        else:
            parts.append(f"{key.removeprefix('model.')}={format_value(value)}")
    text = " ".join(parts)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def setting_rows(aggregates: Sequence[SettingAggregate], start: int = 1) -> list[SettingRow]:
    """Rows numbered S<start>, S<start+1>, … in the aggregates' order, each with a chart
    legend of its own (two cut to the same text keep their ids in front: `S1 lr=…`)."""
    rows = [
        SettingRow(f"S{number}", agg, dict(agg.setting))
        for number, agg in enumerate(aggregates, start=start)
    ]
    legends = [compact_label(row) for row in rows]
    for row, legend in zip(rows, legends, strict=True):
        row.short = legend if legends.count(legend) == 1 else f"{row.ident} {legend}"
    return rows


def results_table(
    rows: Sequence[SettingRow], fields: Sequence[str], task: str, text: Text
) -> tuple[list[str], list[list[str]]]:
    """(head, body) of the results table: id, differing fields, metrics, time, size."""
    metrics = [m for m in METRIC_COLUMNS[task] if any(m in r.aggregate.final for r in rows)]
    head = ["#", *fields, text("col_seeds"), *(text.metric(m) for m in metrics)]
    head += [text("col_seconds"), text("col_params"), text("col_status")]
    body = []
    for row in rows:
        agg = row.aggregate
        statuses = [record.status for record in agg.records]
        done = statuses.count("completed")
        line = [row.ident, *(_field_cell(row.values, f) for f in fields)]
        line.append(", ".join(str(seed) for seed in agg.seeds))
        line += [format_metric(m, agg.final.get(m)) for m in metrics]
        line.append(format_metric("seconds_per_epoch", agg.final.get("seconds_per_epoch")))
        line.append(format_metric("params", agg.final.get("params")))
        line.append(f"{done}/{len(statuses)} {text.status('completed')}")
        body.append(line)
    return head, body


def _field_cell(values: dict[str, Any], key: str) -> str:
    return format_value(values[key]) if key in values else "—"


def _mean(agg: SettingAggregate, metric: str) -> float | None:
    stats = agg.final.get(metric)
    return stats.mean if stats and stats.n and math.isfinite(stats.mean) else None


def observations(rows: Sequence[SettingRow], task: str, text: Text) -> list[str]:
    """A few factual sentences a student would write under the table."""
    if len(rows) < 2:
        return []
    metric = primary_metric(task)
    ranked = [(m, r) for r in rows if (m := _mean(r.aggregate, metric)) is not None]
    lines = []
    if len(ranked) >= 2:
        lines += _best_and_worst(ranked, metric, text)
    timed = [(m, r) for r in rows if (m := _mean(r.aggregate, "seconds_per_epoch")) is not None]
    if len(timed) >= 2:
        fast = min(timed, key=lambda pair: pair[0])
        slow = max(timed, key=lambda pair: pair[0])
        lines.append(
            text(
                "obs_fastest",
                setting=_name(fast[1]),
                value=f"{fast[0]:.2f}",
                slow_setting=_name(slow[1]),
                slow_value=f"{slow[0]:.2f}",
            )
        )
    if task == "classify":
        gaps = [
            (train - test, r)
            for r in rows
            if (train := _mean(r.aggregate, "train_acc")) is not None
            and (test := _mean(r.aggregate, "test_acc")) is not None
        ]
        if gaps:
            gap, row = max(gaps, key=lambda pair: pair[0])
            lines.append(text("obs_gap", setting=_name(row), value=f"{gap * 100:.2f}"))
    spreads = [r.aggregate.final[metric] for r in rows if metric in r.aggregate.final]
    spreads = [s for s in spreads if s.n >= 2]
    if spreads:
        scale, digits = metric_scale(metric), metric_digits(metric)
        low, high = min(s.std for s in spreads) * scale, max(s.std for s in spreads) * scale
        lines.append(
            text(
                "obs_spread",
                metric=text.metric(metric),
                low=f"{low:.{digits}f}",
                high=f"{high:.{digits}f}",
            )
        )
    return lines


def _shown(metric: str, mean: float) -> str:
    """The mean as the table shows it: equal texts are a tie to the reader."""
    return f"{mean * metric_scale(metric):.{metric_digits(metric)}f}"


def _best_and_worst(
    ranked: Sequence[tuple[float, SettingRow]], metric: str, text: Text
) -> list[str]:
    """ "Best …" and "Lowest …", naming every setting that ties at either end; one sentence
    when they all tie (never the same setting called best and lowest)."""
    name = text.metric(metric)
    top = _shown(metric, max(mean for mean, _ in ranked))
    bottom = _shown(metric, min(mean for mean, _ in ranked))
    if top == bottom:
        names = _names([row for _, row in ranked], text)
        return [text("obs_all_tie", metric=name, settings=names, value=top)]
    lines = []
    for key, shown in (("obs_best", top), ("obs_worst", bottom)):
        tied = [row for mean, row in ranked if _shown(metric, mean) == shown]
        if len(tied) == 1:
            value = format_metric(metric, tied[0].aggregate.final.get(metric))
            lines.append(text(key, metric=name, setting=_name(tied[0]), value=value))
        else:
            lines.append(text(f"{key}_tie", metric=name, settings=_names(tied, text), value=shown))
    return lines


def _names(rows: Sequence[SettingRow], text: Text) -> str:
    """`S1 (lr=0.01) and S2 (lr=0.001)`; three or more with commas."""
    names = [_name(row) for row in rows]
    if len(names) == 1:
        return names[0]
    return text("list_sep").join(names[:-1]) + text("list_and") + names[-1]


def _name(row: SettingRow) -> str:
    return f"{row.ident} ({row.legend})" if row.legend != row.ident else row.ident


def common_settings(records: Sequence[Any], varying: Sequence[str]) -> list[tuple[str, str]]:
    """(field, value) for config keys every run shares (model options as `model.<key>`)."""
    flats = [flat_config(record.config or {}) for record in records]
    if not flats:
        return []
    skip = {"name", "seed", *varying}
    rows = []
    for key, value in flats[0].items():
        if key in skip:
            continue
        if all(format_value(flat.get(key)) == format_value(value) for flat in flats[1:]):
            rows.append((key, format_value(value)))
    seeds = sorted({int((record.config or {}).get("seed", 0)) for record in records})
    rows.append(("seed", ", ".join(str(seed) for seed in seeds)))
    return rows


@dataclass(frozen=True)
class HDCEntry:
    model: str
    dilations: tuple[int, ...]
    kernel_size: int
    report: Any  # engine.ops.HDCReport


def hdc_entries(records: Sequence[Any]) -> list[HDCEntry]:
    """One HDC check per distinct (model, dilations, kernel size) among dilated runs."""
    from engine.models import get_model_info
    from engine.ops.arithmetic import hdc_check

    entries: dict[tuple, HDCEntry] = {}
    for record in records:
        config = record.config or {}
        model = config.get("model")
        try:
            defaults = dict(get_model_info(model).options)
        except ValueError:
            continue
        if "dilations" not in defaults:
            continue
        options = {**defaults, **(config.get("model_options") or {})}
        dilations = tuple(int(d) for d in options["dilations"])
        kernel = int(options.get("kernel_size", 3))
        key = (model, dilations, kernel)
        if key not in entries:
            entries[key] = HDCEntry(model, dilations, kernel, hdc_check(dilations, kernel))
    return list(entries.values())
