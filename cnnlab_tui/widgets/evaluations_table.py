"""The evaluations kept in a run folder (`cnnlab evaluate`), as a table for Run detail."""

from __future__ import annotations

from typing import Any

from textual import work
from textual.widgets import DataTable

from cnnlab_tui.widgets.tables import fill_table
from cnnlab_tui.widgets.use_support import to_ui

HEADERS = ["evaluation", "when", "images", "checkpoint", "acc / PSNR", "balanced / SSIM"]


def evaluation_row(entry: dict[str, Any]) -> list[Any]:
    if entry.get("problem"):
        return [entry.get("name"), "unreadable", entry["problem"], None, None, None]
    metrics = entry.get("metrics") or {}
    if "acc" in metrics:
        first, second = _percent(metrics.get("acc")), _percent(metrics.get("balanced_acc"))
    else:
        psnr = metrics.get("psnr")
        first = f"{psnr:.2f} dB" if isinstance(psnr, (int, float)) else None
        second = metrics.get("ssim")
    when = str(entry.get("created_at") or "")[:16].replace("T", " ")
    checkpoint = f"{entry.get('checkpoint')} (ep {entry.get('epoch')})"
    return [entry.get("name"), when, entry.get("num_images"), checkpoint, first, second]


def _percent(value: Any) -> str | None:
    return f"{100 * value:.1f} %" if isinstance(value, (int, float)) else None


class EvaluationsTable(DataTable):
    """Newest first; hidden while the run has none."""

    def __init__(self, run_id: str, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.run_id = run_id

    def on_mount(self) -> None:
        self.display = False
        self.reload()

    @work(thread=True, exclusive=True, group="evaluations-read")
    def reload(self) -> None:
        from engine.use.records import list_evaluations

        try:
            entries = list_evaluations(self.app.store.resolve(self.run_id))
        except Exception:  # the run vanished: the detail title says so
            entries = []
        to_ui(self, self._show, entries)

    def _show(self, entries: list[dict[str, Any]]) -> None:
        self.display = bool(entries)
        if entries:
            fill_table(self, HEADERS, [evaluation_row(e) for e in entries])
