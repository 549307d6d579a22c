"""DataTable helpers shared by the Runs, Run detail and Compare screens.

Tables keep *raw* values (floats, ints, None) next to what they display, so sorting is by
number rather than by the formatted text ("10" after "9"), and every screen formats numbers,
durations and statuses the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

MISSING = "—"
Formatter = Callable[[Any, Mapping[str, Any]], "Text | str"]

STATUS_STYLES: dict[str, str] = {
    "completed": "green",
    "running": "bold cyan",
    "queued": "cyan",
    "cancelled": "yellow",
    "interrupted": "yellow",
    "pruned": "blue",
    "failed": "bold red",
    "diverged": "magenta",
    "damaged": "red",
}


def format_value(value: Any) -> str:
    """A short, stable text for one config or metric value."""
    if value is None or value == "":
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value == 0:
            return "0"
        if abs(value) >= 1e5 or abs(value) < 1e-3:
            return f"{value:.2e}"
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ",".join(format_value(v) for v in value) or "[]"
    if isinstance(value, Mapping):
        return " ".join(f"{k}={format_value(v)}" for k, v in value.items()) or "{}"
    return str(value)


def format_duration(seconds: float | None) -> str:
    """Seconds as `45s`, `3m05s` or `2h04m` — what a person scans for in a table."""
    if seconds is None or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return MISSING
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def format_time(timestamp: float | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A moment in local time from epoch seconds or an ISO string (UTC ones included)."""
    if timestamp is None or timestamp == "":
        return MISSING
    try:
        if isinstance(timestamp, (int, float)):
            moment = datetime.fromtimestamp(float(timestamp))
        else:
            moment = datetime.fromisoformat(str(timestamp))
            if moment.tzinfo is not None:
                moment = moment.astimezone()  # summaries store UTC; people read local time
    except (ValueError, OSError, OverflowError):
        return str(timestamp)
    return moment.strftime(fmt)


def status_text(status: str | None) -> Text:
    """The run status coloured by how it ended."""
    label = status or "unknown"
    return Text(label, style=STATUS_STYLES.get(label, "dim"))


def _sort_key(value: Any) -> tuple[int, Any]:
    """Numbers before text, missing values last, NaN after every number."""
    if value is None or value == "":
        return (3, 0)
    if isinstance(value, bool):
        return (0, float(value))
    if isinstance(value, (int, float)):
        return (1, math.inf) if math.isnan(value) else (0, float(value))
    return (2, str(value).lower())


class SortableTable(DataTable):
    """A DataTable over raw rows that sorts by any column and survives refreshes.

    Rows are `{column_key: raw_value}` keyed by a stable id (a run id), and may carry extra
    keys that formatters read (`formatter(value, row)`); `set_rows` replaces
    them all but keeps the cursor on the same id, so a table refreshed every second while
    the user scrolls does not jump. Selecting a header (click) sorts by it; again reverses.
    """

    def __init__(
        self,
        columns: Sequence[tuple[str, str]],
        *,
        formatters: Mapping[str, Formatter] | None = None,
        id: str | None = None,  # noqa: A002 - Textual's own parameter name
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self.column_specs = list(columns)
        self.formatters = dict(formatters or {})
        self.sort_column: str | None = None
        self.sort_reverse = False
        self._raw: dict[str, dict[str, Any]] = {}

    def on_mount(self) -> None:
        self._ensure_columns()

    def _ensure_columns(self) -> None:
        # Also called from set_rows: rows may arrive (from a worker) before on_mount runs.
        if not self.columns:
            for key, label in self.column_specs:
                self.add_column(label, key=key)

    @property
    def row_ids(self) -> list[str]:
        """Row ids in display order."""
        return [str(row.key.value) for row in self.ordered_rows]

    @property
    def selected_id(self) -> str | None:
        """Id of the row under the cursor, or None when the table is empty."""
        if not self.row_count:
            return None
        row_index = min(self.cursor_row, self.row_count - 1)
        return str(self.ordered_rows[row_index].key.value)

    def raw_row(self, row_id: str) -> dict[str, Any]:
        """The raw values of one row (what sorting and tests look at)."""
        return dict(self._raw[row_id])

    def cell(self, column: str, row: Mapping[str, Any]) -> Text | str:
        """How `row`'s raw value is shown in `column` (a formatter may read the whole row)."""
        formatter = self.formatters.get(column)
        value = row.get(column)
        return formatter(value, row) if formatter else format_value(value)

    def set_rows(self, rows: Mapping[str, Mapping[str, Any]]) -> None:
        """Replace every row, keep the sort and the cursor's row."""
        self._ensure_columns()
        keep = self.selected_id
        self._raw = {str(k): dict(v) for k, v in rows.items()}
        self.clear()
        for row_id, raw in self._ordered(self._raw):
            cells = [self.cell(key, raw) for key, _ in self.column_specs]
            self.add_row(*cells, key=row_id)
        if keep is not None and keep in self._raw:
            self.move_cursor(row=self.get_row_index(keep))

    def sort_by(self, column: str, reverse: bool | None = None) -> None:
        """Sort by `column`; `reverse=None` flips when it is already the sort column."""
        if reverse is None:
            reverse = not self.sort_reverse if column == self.sort_column else False
        self.sort_column, self.sort_reverse = column, reverse
        self.set_rows(self._raw)

    def _ordered(self, rows: dict[str, dict[str, Any]]) -> Iterable[tuple[str, dict[str, Any]]]:
        items = list(rows.items())
        if self.sort_column is None:
            return items
        column = self.sort_column
        if self.sort_reverse:
            # Missing values stay last in both directions: sort present ones, then append.
            present = [item for item in items if _sort_key(item[1].get(column))[0] < 3]
            missing = [item for item in items if _sort_key(item[1].get(column))[0] == 3]
            present.sort(key=lambda item: _sort_key(item[1].get(column)), reverse=True)
            return present + missing
        return sorted(items, key=lambda item: _sort_key(item[1].get(column)))

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.sort_by(str(event.column_key.value))


def fill_table(
    table: DataTable,
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
) -> None:
    """Replace a DataTable's columns and rows; cells that are not Text are formatted.

    Plain strings become `Text`, so a label such as `model.widths=[4,8]` is never read as
    markup."""
    table.clear(columns=True)
    table.add_columns(*(h if isinstance(h, Text) else Text(str(h)) for h in headers))
    for row in rows:
        table.add_row(*(c if isinstance(c, Text) else Text(format_value(c)) for c in row))


# A cividis-like ramp (dark blue → grey → yellow): ordered by lightness and readable with
# every common colour-vision deficiency, unlike green/red.
RAMP: tuple[tuple[int, int, int], ...] = (
    (0, 34, 78), (59, 73, 108), (124, 123, 120), (188, 175, 111), (254, 232, 56),
)  # fmt: skip


def ramp_colour(share: float) -> str:
    """The ramp's colour for `share` in [0, 1], interpolated between its stops."""
    share = min(max(share, 0.0), 1.0) * (len(RAMP) - 1)
    low = min(int(share), len(RAMP) - 2)
    t = share - low
    rgb = [round(a + (b - a) * t) for a, b in zip(RAMP[low], RAMP[low + 1], strict=True)]
    return f"rgb({rgb[0]},{rgb[1]},{rgb[2]})"


def _ink_for(share: float) -> str:
    """Black on the light end of the ramp, white on the dark end."""
    return "black" if share >= 0.55 else "white"


def confusion_cells(matrix: Sequence[Sequence[int]], *, colour: bool = True) -> list[list[Text]]:
    """Confusion-matrix counts as Text: every count is written out, the diagonal (right
    answers) in brackets and bold, so nothing depends on colour; with `colour` the cell is
    shaded on a colour-blind-safe ramp by its share of the row (true class), lighter the
    larger, so the worst confusions stand out at a glance. `colour=False` (NO_COLOR) keeps
    the numbers, brackets and bold only."""
    rows: list[list[Text]] = []
    for true_index, row in enumerate(matrix):
        total = sum(row) or 1
        cells: list[Text] = []
        for pred_index, count in enumerate(row):
            share = count / total
            right = true_index == pred_index
            label = f"[{count}]" if right else f" {count} "
            style = "bold" if right else ""
            if colour and count:
                style += f" {_ink_for(share)} on {ramp_colour(share)}"
            elif colour:
                style += " dim"
            cells.append(Text(label, style=style.strip(), justify="right"))
        rows.append(cells)
    return rows
