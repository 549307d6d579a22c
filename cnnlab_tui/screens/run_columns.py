"""Which columns the Runs table shows, so it fits the terminal and tells runs apart.

Always: the mark, the run's handle (name, else a short id), status, best and epochs, then
every config field that differs between the listed runs (`engine.runs.differing`), then the
metric sorted by. Whatever room is left takes, in order: started, time, data set, model and
the full id — so 200 columns show them all, 80 columns what tells runs apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rich.cells import cell_len
from rich.text import Text

from cnnlab_tui.screens.run_rows import config_column, header

ESSENTIAL = ["mark", "handle", "status", "best", "epochs"]
OPTIONAL = ["started", "seconds", "dataset", "model", "run_id"]
CELL_PADDING = 2  # DataTable's cell_padding=1 on each side
SCROLLBAR = 2


def wanted_columns(differing: Sequence[str], sort_column: str | None) -> list[str]:
    """Row keys that must be shown: the essentials, differing config fields, the sort."""
    keys = list(ESSENTIAL)
    for field in differing:
        column = config_column(field)
        if column not in keys:
            keys.append(column)
    if sort_column and sort_column not in keys:
        keys.append(sort_column)
    return keys


def sort_order(differing: Sequence[str], metrics: Sequence[str]) -> list[str]:
    """What `s` cycles through, in an order that does not depend on the width: the wanted
    columns, the optional ones, then every final metric."""
    keys = [key for key in wanted_columns(differing, None) if key != "mark"]
    return list(dict.fromkeys([*keys, *OPTIONAL, *metrics]))


def column_width(key: str, rows: Sequence[Mapping[str, Any]], cell: Callable) -> int:
    """Cells (header included) the column needs, padding included."""
    widths = [cell_len(header(key))]
    for row in rows:
        shown = cell(key, row)
        widths.append(shown.cell_len if isinstance(shown, Text) else cell_len(str(shown)))
    return max(widths) + CELL_PADDING


def fit_columns(
    differing: Sequence[str],
    sort_column: str | None,
    rows: Sequence[Mapping[str, Any]],
    cell: Callable,
    width: int,
) -> list[tuple[str, str]]:
    """(key, header) of the columns to show in `width` cells: every wanted one, then the
    optional ones that still fit (a wanted one is never dropped; the table scrolls)."""
    keys = wanted_columns(differing, sort_column)
    used = sum(column_width(key, rows, cell) for key in keys)
    room = width - SCROLLBAR
    for key in OPTIONAL:
        if key in keys:
            continue
        needed = column_width(key, rows, cell)
        if used + needed <= room:
            keys.append(key)
            used += needed
    order = {key: i for i, key in enumerate(ESSENTIAL[:2] + ["started"])}
    keys.sort(key=lambda key: order.get(key, len(order)))  # stable: the rest keeps its order
    return [(key, header(key)) for key in keys]
