"""Group runs by sweep and by setting, and summarise each setting over its seeds.

Pure functions over run records (anything with `run_id`, `status`, `config`, `summary`,
`metrics`, `path`), so the CLI, the report and the dashboard's Compare screen share one
definition of "mean ± std per setting and epoch". Std is the sample std (ddof=1) over
seeds, 0 for a single run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.sweeps.grid import MODEL_PREFIX, format_value, setting_label
from engine.sweeps.membership import read_membership

# Config fields that never make two runs "different settings": seeds are what a setting is
# averaged over, and the name is a label.
NOT_A_SETTING = frozenset({"seed", "name"})
# Per-epoch keys that are not scalar curves.
NOT_A_CURVE = frozenset({"epoch", "per_class_acc", "confusion"})


@dataclass(frozen=True)
class MeanStd:
    """A mean with its sample std over `n` runs."""

    mean: float
    std: float
    n: int

    def format(self, digits: int = 4, scale: float = 1.0) -> str:
        """`0.8120 ± 0.0130` (`scale=100` shows fractions as percentages)."""
        if self.n == 0 or not math.isfinite(self.mean):
            return "–"
        mean, std = self.mean * scale, self.std * scale
        return f"{mean:.{digits}f} ± {std:.{digits}f}"


@dataclass(frozen=True)
class Curve:
    """One metric over epochs, averaged over seeds (`n[i]` runs reached epoch `epochs[i]`)."""

    epochs: list[int]
    mean: list[float]
    std: list[float]
    n: list[int]


@dataclass
class SettingAggregate:
    """All runs of one setting (same config except seed): curves and final metrics."""

    setting: dict[str, Any]
    records: list[Any]
    curves: dict[str, Curve] = field(default_factory=dict)
    final: dict[str, MeanStd] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return setting_label(self.setting)

    @property
    def run_ids(self) -> list[str]:
        return [record.run_id for record in self.records]

    @property
    def seeds(self) -> list[int]:
        return [int(record.config.get("seed", 0)) for record in self.records]


@dataclass
class SweepGroup:
    """The runs of one sweep: the latest useful run per point, and the swept keys."""

    sweep_id: str
    swept_fields: list[str]
    records: list[Any]
    superseded: list[Any] = field(default_factory=list)


def mean_std(values: Iterable[float]) -> MeanStd:
    """Mean and sample std of the finite values (NaN/None are left out)."""
    finite = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not finite:
        return MeanStd(float("nan"), float("nan"), 0)
    mean = sum(finite) / len(finite)
    if len(finite) < 2:
        return MeanStd(mean, 0.0, len(finite))
    variance = sum((v - mean) ** 2 for v in finite) / (len(finite) - 1)
    return MeanStd(mean, math.sqrt(variance), len(finite))


def flat_config(config: dict[str, Any]) -> dict[str, Any]:
    """Config with model options as `model.<option>` keys, so they compare like fields."""
    flat = {k: v for k, v in config.items() if k != "model_options"}
    for key, value in (config.get("model_options") or {}).items():
        flat[MODEL_PREFIX + key] = value
    return flat


def differing_fields(records: Sequence[Any]) -> list[str]:
    """Config keys (and model options) whose values differ between runs, seed excluded."""
    flats = [flat_config(record.config or {}) for record in records]
    keys: list[str] = []
    for flat in flats:
        keys.extend(key for key in flat if key not in keys)
    return [
        key
        for key in keys
        if key not in NOT_A_SETTING and len({format_value(f.get(key)) for f in flats}) > 1
    ]


def _sweep_sort_key(record: Any) -> tuple[int, str]:
    membership = read_membership(record)
    index = int((membership[1] if membership else {}).get("index", 10**9))
    return index, record.run_id


def _preference(record: Any) -> tuple[int, int, str]:
    """Completed runs first, then runs with more epochs, then the newest."""
    return (record.status == "completed", len(record.metrics or []), record.run_id)


def group_runs_by_sweep(records: Iterable[Any]) -> list[SweepGroup]:
    """Sweep members grouped by sweep, one run per point (a re-run point keeps its best run).

    Runs outside any sweep are left out (see `runs_outside_sweeps`).
    """
    points: dict[str, dict[int, list[Any]]] = {}
    swept: dict[str, list[str]] = {}
    for record in records:
        membership = read_membership(record)
        if membership is None:
            continue
        sweep_id, point = membership
        index = int(point.get("index", -1))
        points.setdefault(sweep_id, {}).setdefault(index, []).append(record)
        keys = swept.setdefault(sweep_id, [])
        keys.extend(key for key in (point.get("setting") or {}) if key not in keys)
    groups = []
    for sweep_id, by_index in points.items():
        chosen, superseded = [], []
        for index in sorted(by_index):
            ranked = sorted(by_index[index], key=_preference, reverse=True)
            chosen.append(ranked[0])
            superseded.extend(ranked[1:])
        groups.append(SweepGroup(sweep_id, swept[sweep_id], chosen, superseded))
    return sorted(groups, key=lambda group: group.sweep_id)


def runs_outside_sweeps(records: Iterable[Any]) -> list[Any]:
    return [record for record in records if read_membership(record) is None]


def _setting_of(record: Any, fields: Sequence[str]) -> dict[str, Any]:
    """The run's values of `fields`; a key the run does not have (another model's option)
    is left out rather than shown as None."""
    flat = flat_config(record.config or {})
    return {key: flat[key] for key in fields if key in flat}


def _curves(records: Sequence[Any]) -> dict[str, Curve]:
    by_metric: dict[str, dict[int, list[float]]] = {}
    for record in records:
        for row in record.metrics or []:
            epoch = row.get("epoch")
            if not isinstance(epoch, int):
                continue
            for key, value in row.items():
                if key in NOT_A_CURVE or not isinstance(value, (int, float)):
                    continue
                by_metric.setdefault(key, {}).setdefault(epoch, []).append(float(value))
    curves = {}
    for key, by_epoch in by_metric.items():
        epochs = sorted(by_epoch)
        stats = [mean_std(by_epoch[e]) for e in epochs]
        curves[key] = Curve(
            epochs, [s.mean for s in stats], [s.std for s in stats], [s.n for s in stats]
        )
    return curves


def final_values(record: Any) -> dict[str, float]:
    """The numbers a results table shows for one run (last epoch, best, time, size)."""
    rows = record.metrics or []
    last = rows[-1] if rows else dict(record.summary.get("final") or {})
    values = {
        key: float(value)
        for key, value in last.items()
        if key not in NOT_A_CURVE and isinstance(value, (int, float))
    }
    best = record.summary.get("best") or {}
    for key, value in best.items():
        if key != "epoch" and isinstance(value, (int, float)):
            values[f"best_{key}"] = float(value)
    seconds = [r.get("seconds") for r in rows if isinstance(r.get("seconds"), (int, float))]
    if seconds:
        values["seconds_per_epoch"] = sum(seconds) / len(seconds)
    for key in ("train_seconds", "params"):
        if isinstance(record.summary.get(key), (int, float)):
            values[key] = float(record.summary[key])
    values.pop("seconds", None)
    return values


def aggregate(
    records: Sequence[Any], fields: Sequence[str] | None = None
) -> list[SettingAggregate]:
    """Mean ± std per setting and epoch.

    `fields` are the keys that define a setting (default: every config key that differs
    between the runs, seed excluded). Runs of a setting that completed are averaged; a
    setting with no completed run falls back to its runs that have metrics, so an
    interrupted run still shows. Settings keep the order of their first run.
    """
    fields = list(differing_fields(records) if fields is None else fields)
    groups: dict[str, list[Any]] = {}
    settings: dict[str, dict[str, Any]] = {}
    for record in records:
        setting = _setting_of(record, fields)
        key = setting_label(setting)
        groups.setdefault(key, []).append(record)
        settings.setdefault(key, setting)
    result = []
    for key, members in groups.items():
        used = [r for r in members if r.status == "completed"] or [r for r in members if r.metrics]
        used = used or members
        finals = [final_values(r) for r in used]
        names: list[str] = []
        for final in finals:
            names.extend(name for name in final if name not in names)
        result.append(
            SettingAggregate(
                setting=settings[key],
                records=used,
                curves=_curves(used),
                final={name: mean_std(f.get(name) for f in finals) for name in names},
            )
        )
    return result


def aggregate_sweep(group: SweepGroup) -> list[SettingAggregate]:
    """`aggregate` over one sweep's runs, with settings defined by the swept keys."""
    ordered = sorted(group.records, key=_sweep_sort_key)
    return aggregate(ordered, fields=group.swept_fields)
