"""Compare by setting: runs that differ only by seed become one column, mean ± std.

A sweep (or any runs repeating a setting over seeds) is read the way the lab asks for:
one curve per setting (the mean over seeds, with ±1 std drawn as two dotted lines of the
same colour) and final metrics as `mean ± std`. The numbers are the engine's
(`engine.sweeps.aggregate_sweep` / `aggregate`), the same ones `cnnlab report` prints;
this module only arranges them into chart series and table rows — and lists sweeps next
to runs in Compare's picker (a picked sweep id stands for its runs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text

from cnnlab_tui.widgets.tables import format_value as format_cell
from cnnlab_tui.widgets.tables import status_text

if TYPE_CHECKING:  # the engine is imported where it is used, once it is loaded
    from engine.sweeps import SettingAggregate, SweepGroup

# Final metrics shown with fewer digits (they are large numbers, not fractions).
WHOLE_NUMBERS = frozenset({"params", "epoch"})
SECONDS = frozenset({"seconds_per_epoch", "train_seconds"})
Band = tuple[list[float], list[float], list[float]]  # epochs, mean - std, mean + std


@dataclass
class GroupedView:
    """The picked runs as settings: what the Compare screen draws in grouped mode."""

    aggregates: list[SettingAggregate]
    fields: list[str]  # the keys that tell settings apart (swept keys for a sweep)
    sweep_id: str | None  # set when the runs are exactly one sweep

    @property
    def labels(self) -> list[str]:
        """Column / legend labels: position and setting, e.g. `1:lr=0.01`."""
        return [f"{i + 1}:{agg.label}" for i, agg in enumerate(self.aggregates)]

    @property
    def seed_count(self) -> int:
        return max((len(agg.records) for agg in self.aggregates), default=0)

    def title(self) -> str:
        what = self.sweep_id or f"{sum(len(a.records) for a in self.aggregates)} runs"
        settings = len(self.aggregates)
        return (
            f"{what} · {settings} setting{'s' if settings != 1 else ''} × "
            f"{self.seed_count} seeds · mean ± std over seeds (g: one column per run)"
        )

    def metrics(self) -> list[str]:
        """Curve metrics any setting has, in first-seen order."""
        names: list[str] = []
        for agg in self.aggregates:
            names.extend(name for name in agg.curves if name not in names)
        return names

    def series(self, metric: str) -> tuple[dict[str, tuple[list, list]], dict[str, Band]]:
        """(mean curve per label, ±std band per label) of `metric`."""
        means: dict[str, tuple[list, list]] = {}
        bands: dict[str, Band] = {}
        for label, agg in zip(self.labels, self.aggregates, strict=True):
            curve = agg.curves.get(metric)
            if curve is None:
                continue
            means[label] = (list(curve.epochs), list(curve.mean))
            if any(n > 1 for n in curve.n):
                lower = [m - s for m, s in zip(curve.mean, curve.std, strict=True)]
                upper = [m + s for m, s in zip(curve.mean, curve.std, strict=True)]
                bands[label] = (list(curve.epochs), lower, upper)
        return means, bands

    def setting_rows(self) -> list[tuple[Any, ...]]:
        """Rows of the settings table: each field's value per setting, then seeds and runs."""
        from engine.sweeps import format_value

        rows: list[tuple[Any, ...]] = [
            (key, *(format_value(agg.setting.get(key)) for agg in self.aggregates))
            for key in self.fields
        ]
        rows.append(("seeds", *(",".join(map(str, agg.seeds)) for agg in self.aggregates)))
        rows.append(("runs", *(len(agg.records) for agg in self.aggregates)))
        return rows

    def final_rows(self, primary: str | None = None) -> list[tuple[str, ...]]:
        """Final metrics as `mean ± std` per setting; the primary metric's rows first."""
        names: list[str] = []
        for agg in self.aggregates:
            names.extend(name for name in agg.final if name not in names)
        if primary:
            first = [n for n in (f"best_{primary}", primary) if n in names]
            names = first + [n for n in names if n not in first]
        rows = []
        for name in names:
            cells = [_format(name, agg.final.get(name)) for agg in self.aggregates]
            rows.append((name, *cells))
        return rows


def _format(name: str, value: Any) -> str:
    if value is None or value.n == 0:
        return "—"
    if name in WHOLE_NUMBERS:
        return value.format(digits=0)
    return value.format(digits=2 if name in SECONDS else 4)


def picker_options(
    sweeps: dict[str, Any], records: dict[str, Any], selected: list[str]
) -> list[tuple[Text, str, bool]]:
    """(prompt, value, picked) per sweep (its id stands for its runs), then per run."""
    options = []
    for sweep_id, group in sweeps.items():
        about = f"  {len(group.records)} runs · {', '.join(group.swept_fields)}"
        prompt = Text.assemble(("sweep ", "bold magenta"), sweep_id, (about, "dim"))
        options.append((prompt, sweep_id, sweep_id in selected))
    for record in records.values():
        best = record.best_value
        about = f"  best {format_cell(best)}" if best is not None else ""
        prompt = Text.assemble(status_text(record.status), " ", record.run_id, (about, "dim"))
        options.append((prompt, record.run_id, record.run_id in selected))
    return options


def sweep_groups(records: Iterable[Any]) -> dict[str, SweepGroup]:
    """sweep id → its group (one run per point), for every sweep in `records`."""
    from engine.sweeps import group_runs_by_sweep

    return {group.sweep_id: group for group in group_runs_by_sweep(records)}


def expand(ids: Sequence[str], sweeps: Mapping[str, SweepGroup]) -> list[str]:
    """Run ids for picked ids: a sweep id stands for its runs (each run once, in order)."""
    run_ids: list[str] = []
    for picked in ids:
        members = [r.run_id for r in sweeps[picked].records] if picked in sweeps else [picked]
        run_ids.extend(run_id for run_id in members if run_id not in run_ids)
    return run_ids


def grouped_view(records: Sequence[Any]) -> GroupedView | None:
    """The runs as settings, or None when no setting has two runs to average.

    Exactly one whole sweep is grouped by its swept keys; other selections by the config
    keys that differ (seed and name never do).
    """
    from engine.sweeps import aggregate, aggregate_sweep, group_runs_by_sweep
    from engine.sweeps import differing_fields as setting_fields

    if len(records) < 2:
        return None
    ids = {record.run_id for record in records}
    groups = [g for g in group_runs_by_sweep(records) if {r.run_id for r in g.records} == ids]
    if groups:
        group = groups[0]
        aggregates, fields, sweep_id = aggregate_sweep(group), group.swept_fields, group.sweep_id
    else:
        fields = setting_fields(records)
        aggregates, sweep_id = aggregate(records, fields), None
    if all(len(agg.records) < 2 for agg in aggregates):
        return None
    return GroupedView(aggregates, list(fields), sweep_id)
