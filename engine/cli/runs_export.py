"""`cnnlab runs --csv` / `--json`: the run list as data for spreadsheets and scripts.

JSON keeps each run's structure (config, best and final metrics as objects); CSV flattens
it into one row per run with `config.<field>`, `best.<metric>` and `final.<metric>` columns
(the union over all runs, so runs of both tasks fit one file). Bulky per-class lists stay
out: `cnnlab show` and the run folder have them.
"""

from __future__ import annotations

import csv
import json
import sys
from typing import Any, TextIO

from engine.runs.compare import flatten_config
from engine.runs.files import json_safe

SUMMARY_KEYS = (
    "name",
    "task",
    "dataset",
    "model",
    "preset",
    "epochs",
    "epochs_completed",
    "train_seconds",
    "images_per_second",
    "params",
    "device",
    "torch_version",
    "num_train",
    "num_test",
    "started_at",
    "finished_at",
    "error",
)
BULKY = ("per_class_acc", "confusion")


def _metrics(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if k not in BULKY}


def run_row(record, handle: str | None = None) -> dict[str, Any]:
    """One run as a JSON-ready dict; `handle`: the short name `cnnlab runs` shows for it."""
    summary = record.summary if isinstance(record.summary, dict) else {}
    row: dict[str, Any] = {
        "run_id": record.run_id,
        "handle": handle or record.run_id,
        "status": record.status,
    }
    row.update({key: summary.get(key) for key in SUMMARY_KEYS})
    row["damaged"] = record.damaged
    row["path"] = str(record.path)
    row["best"] = _metrics(summary.get("best"))
    row["final"] = _metrics(summary.get("final"))
    row["config"] = record.config if isinstance(record.config, dict) else {}
    row["labels"] = record.labels.to_json()
    return json_safe(row)


def flat_row(row: dict[str, Any]) -> dict[str, Any]:
    flat = {k: v for k, v in row.items() if k not in ("best", "final", "config", "labels")}
    labels = row.get("labels") or {}
    flat.update({f"labels.{k}": v for k, v in labels.items() if k != "tags"})
    flat["labels.tags"] = ",".join(labels.get("tags") or [])
    for part in ("best", "final"):
        flat.update({f"{part}.{k}": v for k, v in row[part].items()})
    flat.update({f"config.{k}": v for k, v in flatten_config(row["config"]).items()})
    return {k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in flat.items()}


def write_json(
    records, out: TextIO | None = None, *, handles: dict[str, str] | None = None
) -> None:
    out = out or sys.stdout
    handles = handles or {}
    rows = [run_row(r, handles.get(r.run_id)) for r in records]
    json.dump(rows, out, indent=2, allow_nan=False)
    out.write("\n")


def write_csv(records, out: TextIO | None = None, *, handles: dict[str, str] | None = None) -> None:
    out = out or sys.stdout
    handles = handles or {}
    rows = [flat_row(run_row(r, handles.get(r.run_id))) for r in records]
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    writer = csv.DictWriter(out, fieldnames=list(columns) or ["run_id"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
