"""The `cnnlab runs` table: one line per run at any terminal width.

Columns come in priority order; the essential ones (handle, status, data, model, epochs,
best, time) are always there and are cut with an ellipsis when the terminal is narrow,
the others are added only while the whole table still fits. `--wide` shows every column
at its full width, so lines may be longer than the terminal but a run never takes two.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

from engine.runs.describe import (
    best_text,
    duration_text,
    format_value,
    hyperparameters_text,
    metric_text,
    model_text,
)
from engine.runs.store import RunRecord

STATUS_STYLE = {
    "running": "cyan",
    "completed": "green",
    "cancelled": "yellow",
    "failed": "red",
    "diverged": "magenta",
    "interrupted": "yellow",
    "pruned": "blue",
    "damaged": "red",
}


@dataclass(frozen=True)
class Column:
    """One column: its header, its cell text, and whether the narrow table may drop it."""

    header: str
    cell: Callable[[RunRecord, str], str]
    essential: bool = False
    justify: str = "left"
    min_width: int = 3
    max_width: int = 60  # the narrow table's cap (a 40-character name gets 24)
    shrink: int = 1  # when too wide, columns of the lowest rank are cut first


def _dataset(r: RunRecord, _: str) -> str:
    return str(r.summary.get("dataset") or r.config.get("dataset") or "—")


def _model(r: RunRecord, _: str) -> str:
    return str(r.summary.get("model") or r.config.get("model") or "—")


def _epochs(r: RunRecord, _: str) -> str:
    done = r.summary.get("epochs_completed")
    total = r.summary.get("epochs") or r.config.get("epochs")
    if done is None and total is None:
        return "—"
    return f"{done or 0}/{total or '?'}"


def _final(r: RunRecord, _: str) -> str:
    return metric_text(r.primary_metric, (r.summary.get("final") or {}).get(r.primary_metric))


def _note(r: RunRecord, _: str) -> str:
    """The user's note, else the free-text name given at training time."""
    return r.labels.note or str(r.config.get("name") or r.summary.get("name") or "")


COLUMNS = (
    Column("run", lambda r, handle: handle, essential=True, min_width=6, max_width=24),
    Column("status", lambda r, _: r.status, essential=True, min_width=9, shrink=2),
    Column("data", _dataset, essential=True, min_width=6, shrink=0),
    Column("model", _model, essential=True, min_width=6, shrink=0),
    Column("ep", _epochs, essential=True, justify="right", min_width=5, shrink=2),
    Column(
        "best", lambda r, _: best_text(r), essential=True, justify="right", min_width=8, shrink=2
    ),
    Column("final", _final, justify="right"),
    Column(
        "time",
        lambda r, _: duration_text(r.summary.get("train_seconds")),
        essential=True,
        min_width=5,
        shrink=2,
    ),
    Column("tags", lambda r, _: ",".join(r.labels.tags)),
    Column("hyper-parameters", lambda r, _: hyperparameters_text(r.config)),
    Column("note", _note),
)
# The order in which optional columns claim the room left (the display order is COLUMNS').
OPTIONAL_PRIORITY = ("tags", "final", "hyper-parameters", "note")

WIDE_COLUMNS = (
    Column("run", lambda r, handle: handle),
    Column("id", lambda r, _: r.run_id),
    Column("name", lambda r, _: r.labels.name),
    Column("status", lambda r, _: r.status),
    Column("data", _dataset),
    Column("model", lambda r, _: model_text(r.summary, r.config) if r.summary or r.config else "—"),
    Column("ep", _epochs, justify="right"),
    Column("best", lambda r, _: best_text(r), justify="right"),
    Column("final", _final, justify="right"),
    Column("time", lambda r, _: duration_text(r.summary.get("train_seconds"))),
    Column("lr", lambda r, _: format_value(r.config.get("lr"))),
    Column("batch", lambda r, _: format_value(r.config.get("batch_size"))),
    Column("optimizer", lambda r, _: format_value(r.config.get("optimizer"))),
    Column("hyper-parameters", lambda r, _: hyperparameters_text(r.config)),
    Column("started", lambda r, _: str(r.summary.get("started_at") or "—")[:19]),
    Column("tags", lambda r, _: ",".join(r.labels.tags)),
    Column("note", _note),
)

GAP = 2  # characters between columns


def _cells(columns, records: list[RunRecord], handles: dict[str, str]) -> list[list[str]]:
    return [
        [_one_line(c.cell(r, handles.get(r.run_id, r.run_id))) for c in columns] for r in records
    ]


def _one_line(text: Any) -> str:
    return " ".join(str(text).split())  # a note's newlines never make a second line


def pick_columns(
    records: list[RunRecord], handles: dict[str, str], width: int
) -> tuple[tuple[Column, ...], list[list[str]], list[int]]:
    """The essential columns plus every optional one that still fits in `width`, the cells,
    and each column's width (see `fit_widths` for what is cut when even the essential
    ones do not fit). An optional column is kept only when it has something to say.
    """
    rows = _cells(COLUMNS, records, handles)
    natural = [
        min(
            c.max_width,
            max([cell_len(c.header), c.min_width] + [cell_len(row[i]) for row in rows]),
        )
        for i, c in enumerate(COLUMNS)
    ]
    chosen = [i for i, c in enumerate(COLUMNS) if c.essential]
    used = sum(natural[i] for i in chosen) + GAP * (len(chosen) - 1)
    headers = [c.header for c in COLUMNS]
    for i in (headers.index(h) for h in OPTIONAL_PRIORITY):
        if all(row[i] in ("", "—") for row in rows):
            continue
        if used + GAP + natural[i] <= width:
            chosen.append(i)
            used += GAP + natural[i]
    chosen.sort()
    widths = fit_widths(
        [natural[i] for i in chosen],
        [COLUMNS[i].min_width for i in chosen],
        width,
        [COLUMNS[i].shrink for i in chosen],
    )
    return tuple(COLUMNS[i] for i in chosen), [[row[i] for i in chosen] for row in rows], widths


def fit_widths(
    natural: list[int], minimum: list[int], width: int, shrink: list[int] | None = None
) -> list[int]:
    """Column widths that fit `width` with the gaps: among the columns of the lowest
    `shrink` rank still above their minimum, the widest loses a character at a time (so a
    model name is cut before the handle a user types); never below a minimum."""
    widths = list(natural)
    ranks = shrink or [0] * len(widths)
    room = width - GAP * (len(widths) - 1)
    while sum(widths) > room:
        shrinkable = [i for i, w in enumerate(widths) if w > minimum[i]]
        if not shrinkable:
            break
        rank = min(ranks[i] for i in shrinkable)
        widest = max((i for i in shrinkable if ranks[i] == rank), key=lambda i: widths[i])
        widths[widest] -= 1
    return widths


def runs_table(
    records: list[RunRecord], handles: dict[str, str], width: int, *, wide: bool = False
) -> Table:
    """A header line and one line per run; cells are cut with '…', never wrapped."""
    widths: list[int | None]
    if wide:
        columns, rows = WIDE_COLUMNS, _cells(WIDE_COLUMNS, records, handles)
        widths = [None] * len(columns)
    else:
        columns, rows, fitted = pick_columns(records, handles, width)
        widths = list(fitted)
    table = Table(box=None, pad_edge=False, padding=(0, GAP // 2))
    for column, column_width in zip(columns, widths, strict=True):
        table.add_column(
            column.header,
            justify=column.justify,  # type: ignore[arg-type]
            no_wrap=True,
            overflow="ellipsis",
            width=column_width,
            header_style="bold",
        )
    status_at = [c.header for c in columns].index("status")
    for record, row in zip(records, rows, strict=True):
        texts = [Text(cell) for cell in row]
        texts[status_at].stylize(STATUS_STYLE.get(record.status, "white"))
        table.add_row(*texts)
    return table


def matches(record: RunRecord, *, tags: list[str], search: str | None) -> bool:
    """Whether a run has every tag in `tags` and contains `search` (any case) in its id,
    name, note, tags, data set or model."""
    if tags and not all(t.lower() in {x.lower() for x in record.labels.tags} for t in tags):
        return False
    if not search:
        return True
    haystack = " ".join(
        [
            record.run_id,
            record.labels.name,
            record.labels.note,
            " ".join(record.labels.tags),
            _dataset(record, ""),
            _model(record, ""),
            str(record.config.get("name") or ""),
        ]
    )
    return search.lower() in haystack.lower()


def line_table(
    headers: tuple[str, ...], rows: list[tuple[Any, ...]], width: int, *, minimum: int = 6
) -> Table:
    """Any list as a header and one line per row within `width`: the widest cells are cut
    with '…' first (used by `cnnlab sweeps`)."""
    texts = [[_one_line(cell) for cell in row] for row in rows]
    natural = [
        max([cell_len(h)] + [cell_len(row[i]) for row in texts]) for i, h in enumerate(headers)
    ]
    widths = fit_widths(natural, [min(n, minimum) for n in natural], width)
    table = Table(box=None, pad_edge=False, padding=(0, GAP // 2))
    for header, column_width in zip(headers, widths, strict=True):
        table.add_column(
            header, no_wrap=True, overflow="ellipsis", width=column_width, header_style="bold"
        )
    for row in texts:
        table.add_row(*[Text(cell) for cell in row])  # file text is never markup
    return table
