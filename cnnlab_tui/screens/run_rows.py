"""The Runs table's rows: its columns, how each cell reads, and the filter.

Pure functions over `RunRecord`s, kept apart from the widgets so they are easy to test and
the screen stays small.
"""

from __future__ import annotations

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

# (key, header) in display order: what matters most comes first so 80 columns show it.
COLUMNS: list[tuple[str, str]] = [
    ("mark", " "),
    ("status", "status"),
    ("started", "started"),
    ("dataset", "data"),
    ("model", "model"),
    ("best", "best"),
    ("epochs", "ep"),
    ("lr", "lr"),
    ("batch_size", "batch"),
    ("optimizer", "opt"),
    ("seconds", "time"),
    ("run_id", "run"),
]
SORTABLE = [key for key, _ in COLUMNS if key != "mark"]


def _best(value: Any, row: Mapping[str, Any]) -> Text | str:
    if not isinstance(value, (int, float)):
        return MISSING
    if row.get("task") == "dehaze":
        return f"{value:.2f}dB"
    return f"{100 * value:.1f}%"


def _epochs(value: Any, row: Mapping[str, Any]) -> str:
    total = row.get("epochs_total")
    return f"{format_value(value)}/{format_value(total)}" if total else format_value(value)


FORMATTERS = {
    "mark": lambda value, row: Text(MARK, style="bold yellow") if value else "",
    "status": lambda value, row: status_text(value),
    "started": lambda value, row: format_time(value, "%m-%d %H:%M"),
    "best": _best,
    "epochs": _epochs,
    "seconds": lambda value, row: format_duration(value),
}


def run_row(record: Any) -> dict[str, Any]:
    """The raw table row of one `RunRecord` (plus hidden keys the formatters read)."""
    summary, config = record.summary or {}, record.config or {}
    return {
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
        "name": summary.get("name") or config.get("name") or "",
        "task": summary.get("task"),
    }


def matches_filter(row: Mapping[str, Any], query: str) -> bool:
    """True when every term of `query` matches the row (case-insensitive substrings).

    `word` matches any column; `column:word` (e.g. `status:failed`, `model:conv`,
    `data:vehicles`) matches that column only — headers and keys both work as names.
    """
    headers = {header: key for key, header in COLUMNS}
    texts = {key: format_value(value).lower() for key, value in row.items()}
    for term in query.lower().split():
        name, sep, word = term.partition(":")
        if sep and word:
            key = headers.get(name, name)
            if word not in texts.get(key, ""):
                return False
        elif not any(term in text for text in texts.values()):
            return False
    return True
