"""The Runs table's rows: their keys, how each cell reads, and the filter.

Pure functions over `RunRecord`s, kept apart from the widgets so they are easy to test and
the screen stays small. Which of these keys become columns, at which width, is
`run_columns`; sweep groups are `run_groups`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rich.text import Text

from cnnlab_tui.widgets.tables import (
    MISSING,
    format_duration,
    format_time,
    format_value,
    status_text,
)

MARK = "●"
_STAMP = re.compile(r"^\d{8}-\d{6}-")

# Headers of the row keys that can be columns (config fields that differ get `cfg:<key>`).
HEADERS: dict[str, str] = {
    "mark": " ",
    "handle": "run",
    "status": "status",
    "best": "best",
    "epochs": "ep",
    "started": "started",
    "dataset": "data",
    "model": "model",
    "lr": "lr",
    "batch_size": "bs",
    "optimizer": "opt",
    "seconds": "time",
    "run_id": "id",
}
# Config keys that have a row key of their own (so filters like `lr:0.01` keep working).
CONFIG_KEYS = {k: k for k in ("dataset", "model", "lr", "batch_size", "optimizer")}
CONFIG_KEYS["epochs"] = "epochs"  # the ep column already shows done/total
CFG = "cfg:"
FINAL = "final:"


def config_column(key: str) -> str:
    """The row key that shows flattened config field `key`."""
    return CONFIG_KEYS.get(key, CFG + key)


def default_handle(record: Any) -> str:
    """What a run is called in a narrow column: its name, else its id without the time."""
    summary, config = record.summary or {}, record.config or {}
    return summary.get("name") or config.get("name") or _STAMP.sub("", record.run_id)


def _best(value: Any, row: Mapping[str, Any]) -> Text | str:
    if not isinstance(value, (int, float)):
        return MISSING
    if row.get("task") == "dehaze":
        return f"{value:.2f}dB"
    return f"{100 * value:.1f}%"


def _epochs(value: Any, row: Mapping[str, Any]) -> str:
    if row.get("group"):
        return f"×{row.get('count', 0)}"
    total = row.get("epochs_total")
    return f"{format_value(value)}/{format_value(total)}" if total else format_value(value)


def _handle(value: Any, row: Mapping[str, Any]) -> Text | str:
    if row.get("group"):
        arrow = "▾" if row.get("expanded") else "▸"
        return Text.assemble((f"{arrow} ", "bold magenta"), (str(value), "bold"))
    text = str(value or MISSING)
    return f"  {text}" if row.get("parent") else text


def _status(value: Any, row: Mapping[str, Any]) -> Text:
    if row.get("group"):
        return Text("sweep", style="bold magenta")
    return status_text(value)


FORMATTERS = {
    "mark": lambda value, row: Text(MARK, style="bold yellow") if value else "",
    "handle": _handle,
    "status": _status,
    "started": lambda value, row: format_time(value, "%m-%d %H:%M"),
    "best": _best,
    "epochs": _epochs,
    "seconds": lambda value, row: format_duration(value),
}


def run_row(
    record: Any, fields: list[str] | None = None, handle: str | None = None
) -> dict[str, Any]:
    """The raw table row of one `RunRecord` (plus hidden keys the formatters and the filter
    read): `fields` are the flattened config keys to add as `cfg:<key>` columns."""
    from engine.runs.differing import config_value

    summary, config = record.summary or {}, record.config or {}
    labels = getattr(record, "labels", None)
    row: dict[str, Any] = {
        "handle": handle or default_handle(record),
        "status": record.status,
        "started": summary.get("started_at"),
        "dataset": summary.get("dataset") or config.get("dataset"),
        "model": summary.get("model") or config.get("model"),
        "best": record.best_value,
        "epochs": summary.get("epochs_completed"),
        "epochs_total": summary.get("epochs") or config.get("epochs"),
        "lr": config.get("lr"),
        "batch_size": config.get("batch_size"),
        "optimizer": config.get("optimizer"),
        "seconds": summary.get("train_seconds"),
        "run_id": record.run_id,
        "name": getattr(labels, "name", None) or summary.get("name") or config.get("name") or "",
        "note": getattr(labels, "note", None) or "",
        "tags": " ".join(getattr(labels, "tags", None) or ()),
        "task": summary.get("task"),
    }
    for key in fields or ():
        column = config_column(key)
        if column.startswith(CFG):
            row[column] = config_value(config, key)
    for name, value in (summary.get("final") or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            row[FINAL + name] = value
    return row


def metric_keys(rows: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The `final:<metric>` keys any row has, in first-seen order (what `s` can sort by)."""
    keys: list[str] = []
    for row in rows.values():
        keys.extend(k for k in row if k.startswith(FINAL) and k not in keys)
    return keys


def header(key: str) -> str:
    """The column header of row key `key`."""
    from engine.runs.differing import short_name

    if key in HEADERS:
        return HEADERS[key]
    if key.startswith(CFG):
        return short_name(key[len(CFG) :])
    if key.startswith(FINAL):
        return key[len(FINAL) :]
    return key


def matches_filter(
    row: Mapping[str, Any], query: str, headers: Mapping[str, str] | None = None
) -> bool:
    """True when every term of `query` matches the row (case-insensitive substrings).

    `word` matches any key (id, name, note, tags, data set, model…); `column:word` (e.g.
    `status:failed`, `model:conv`, `data:vehicles`, `bs:32`) matches that column only —
    headers and keys both work as names.
    """
    names = {header(key): key for key in row}
    names.update({text: key for key, text in HEADERS.items()})
    names.update(headers or {})
    texts = {key: format_value(value).lower() for key, value in row.items()}
    for term in query.lower().split():
        name, sep, word = term.partition(":")
        if sep and word:
            key = names.get(name, name)
            if word not in texts.get(key, "") and word not in texts.get(CFG + key, ""):
                return False
        elif not any(term in text for text in texts.values()):
            return False
    return True
