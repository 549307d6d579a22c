"""Sweeps in the Runs table: one group row per sweep (name, count, best) that opens to show
its runs under it. Pure functions over raw rows, so grouping is tested without a screen."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

GROUP = "sweep:"


def group_key(sweep_id: str) -> str:
    """The table row id of a sweep's group row."""
    return GROUP + sweep_id


def is_group(row_id: str | None) -> bool:
    return bool(row_id) and str(row_id).startswith(GROUP)


def sweep_of(row_id: str) -> str:
    return row_id[len(GROUP) :]


def group_rows(
    rows: Mapping[str, dict[str, Any]],
    sweeps: Mapping[str, str | None],
    expanded: set[str],
) -> dict[str, dict[str, Any]]:
    """`rows` (run id → raw row) with each sweep's runs folded under one group row.

    `sweeps` maps run id → sweep id (None outside a sweep). A group row has the sweep's
    name as handle, its run count, the best of its runs' best, the earliest start, and the
    config values its runs share; its runs follow it (with `parent`) only when expanded.
    """
    members: dict[str, list[str]] = {}
    for run_id in rows:
        sweep_id = sweeps.get(run_id)
        if sweep_id:
            members.setdefault(sweep_id, []).append(run_id)
    out: dict[str, dict[str, Any]] = {}
    for run_id, row in rows.items():
        sweep_id = sweeps.get(run_id)
        if not sweep_id:
            out[run_id] = row
            continue
        key = group_key(sweep_id)
        if key not in out:
            out[key] = _group_row(sweep_id, [rows[i] for i in members[sweep_id]], expanded)
        if sweep_id in expanded:
            out[run_id] = {**row, "parent": key}
    return out


def _group_row(sweep_id: str, runs: list[dict[str, Any]], expanded: set[str]) -> dict[str, Any]:
    bests = [r["best"] for r in runs if isinstance(r.get("best"), (int, float))]
    starts = [r["started"] for r in runs if r.get("started")]
    row: dict[str, Any] = {
        "group": True,
        "expanded": sweep_id in expanded,
        "handle": sweep_id,
        "run_id": sweep_id,
        "count": len(runs),
        "status": "sweep",
        "best": max(bests) if bests else None,
        "started": min(starts) if starts else None,
        "mark": bool(runs) and all(r.get("mark") for r in runs),
        "task": runs[0].get("task") if runs else None,
    }
    shared = set.intersection(*(set(r) for r in runs)) if runs else set()
    for key in shared - set(row) - {"name", "note", "tags", "epochs", "epochs_total"}:
        values = [r[key] for r in runs]
        if all(v == values[0] for v in values):
            row[key] = values[0]
    seconds = [r["seconds"] for r in runs if isinstance(r.get("seconds"), (int, float))]
    row["seconds"] = sum(seconds) if seconds else None
    return row
