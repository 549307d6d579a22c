"""The Runs table: a SortableTable whose columns follow the runs listed and whose group rows
(sweeps) keep their runs right under them whatever the sort."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cnnlab_tui.widgets.tables import SortableTable


class RunsTable(SortableTable):
    """Rows with a `parent` key follow their parent row, sorted among themselves."""

    def show(
        self, rows: Mapping[str, Mapping[str, Any]], columns: Sequence[tuple[str, str]]
    ) -> None:
        """Replace columns (when they changed) and rows; the cursor stays on its row."""
        keep = self.selected_id
        if list(columns) != self.column_specs or not self.columns:
            self.clear(columns=True)
            self.column_specs = list(columns)
            for key, label in self.column_specs:
                self.add_column(label, key=key)
        self.set_rows(rows)
        if keep is not None and keep in rows:
            self.move_cursor(row=self.get_row_index(keep))

    @property
    def column_keys(self) -> list[str]:
        """Keys of the columns shown, in order."""
        return [key for key, _ in self.column_specs]

    @property
    def rows_raw(self) -> dict[str, dict[str, Any]]:
        """Every row's raw values by row id, in display order."""
        return {row_id: self.raw_row(row_id) for row_id in self.row_ids}

    def _ordered(self, rows: dict[str, dict[str, Any]]) -> Iterable[tuple[str, dict[str, Any]]]:
        tops = {k: v for k, v in rows.items() if not v.get("parent")}
        children: dict[str, dict[str, dict[str, Any]]] = {}
        for key, row in rows.items():
            if row.get("parent"):
                children.setdefault(row["parent"], {})[key] = row
        ordered: list[tuple[str, dict[str, Any]]] = []
        for key, row in super()._ordered(tops):
            ordered.append((key, row))
            ordered.extend(super()._ordered(children.get(key, {})))
        return ordered
