"""Compare's Search tab: what a search that learns found — its best trial, the objective of
every trial (in the order they ran, pruned ones with the last value they reported) and how
much each setting mattered (Optuna's parameter importance).

The figures are `engine.sweeps.search_results.read_search`'s, the same ones `cnnlab sweeps
SEARCH` prints; reading the study (and computing importance) happens in a worker thread, so
the screen never waits for SQLite or Optuna. A search's trials are runs tagged with its id,
so the picker lists a search next to the sweeps; this panel speaks when exactly one search is
picked and says how to get one otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from cnnlab_tui.messages import WorkerAnswer
from cnnlab_tui.widgets.tables import fill_table, status_text

SEARCH_PREFIX = "search-"
HINT = "Pick one search (an id starting with search-) to see its trials: p or F4."


def picked_search(selected_ids: list[str]) -> str | None:
    """The search id when the picked ids are exactly one search."""
    if len(selected_ids) == 1 and selected_ids[0].startswith(SEARCH_PREFIX):
        return selected_ids[0]
    return None


def trial_rows(result: Any) -> list[tuple[Any, ...]]:
    """(trial, status, objective, setting, run) per trial; the best one marked ★."""
    from engine.runs.describe import metric_text

    best = result.best.number if result.best is not None else None
    rows = []
    for row in result.trials:
        mark = "★" if row.number == best else ""
        rows.append((
            f"{mark}#{row.number}", status_text(row.state),
            metric_text(result.spec.objective, row.value), params_text(row.params),
            row.run_id or "–",
        ))  # fmt: skip
    return rows


def importance_rows(result: Any) -> list[tuple[str, str]]:
    """(setting, share, bar) per setting, most important first."""
    shares = sorted((result.importance or {}).items(), key=lambda item: -item[1])
    return [(key, f"{share:.2f}", "█" * max(1, round(share * 20))) for key, share in shares]


def params_text(params: dict[str, Any]) -> str:
    from engine.sweeps import format_value

    return " ".join(f"{key}={format_value(value)}" for key, value in params.items())


def best_text(result: Any) -> Text:
    """One line: the search, its objective, progress and best trial (or why none yet)."""
    from engine.runs.describe import metric_text

    spec = result.spec
    head = f"{result.search_id} · {spec.direction} {spec.objective} · {result.progress_text}"
    if result.best is None:
        return Text(f"{head} · no completed trial yet", style="bold")
    best = result.best
    return Text.assemble(
        (head, "bold"), " · best ", (f"#{best.number} ", "bold green"),
        (metric_text(spec.objective, best.value), "bold green"), f"  {params_text(best.params)}",
        (f"  ({best.run_id})" if best.run_id else "", "dim"),
    )  # fmt: skip


class SearchPanel(Vertical):
    """Best trial, trials table and importance of one search; `show(id | None)`."""

    class Loaded(WorkerAnswer):
        def __init__(self, search_id: str, result: Any, error: str | None) -> None:
            super().__init__()
            self.search_id, self.result, self.error = search_id, result, error

    def __init__(self, runs_dir: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runs_dir = Path(runs_dir)
        self.search_id: str | None = None
        self.result: Any = None

    def compose(self) -> ComposeResult:
        yield Static(HINT, id="search-best")
        yield DataTable(id="search-trials", cursor_type="row", zebra_stripes=True)
        yield Static("", id="search-importance-title")
        yield DataTable(id="search-importance", cursor_type="none")

    def show(self, search_id: str | None) -> None:
        """Read `search_id` again (its trials go on while it runs), or show the hint."""
        self.search_id = search_id
        if search_id is None:
            self.result = None
            self.query_one("#search-best", Static).update(HINT)
            fill_table(self.query_one("#search-trials", DataTable), ["trial"], [])
            self.query_one("#search-importance-title", Static).update("")
            fill_table(self.query_one("#search-importance", DataTable), ["setting"], [])
            return
        self._read(search_id)

    @work(thread=True, exclusive=True, group="search-read")
    def _read(self, search_id: str) -> None:
        from engine.errors import CnnlabError
        from engine.sweeps.search_results import read_search

        try:
            result, error = read_search(self.runs_dir, search_id, importance=True), None
        except (CnnlabError, ImportError) as exc:  # a damaged study, or no optuna here
            result, error = None, str(exc)
        self.post_message(self.Loaded(search_id, result, error))

    @on(Loaded)
    def _loaded(self, answer: Loaded) -> None:
        if answer.superseded or answer.search_id != self.search_id:  # another one since
            return
        best = self.query_one("#search-best", Static)
        if answer.error is not None:
            best.update(Text(f"{answer.search_id}: {answer.error}", style="red"))
            return
        result = self.result = answer.result
        best.update(best_text(result))
        fill_table(
            self.query_one("#search-trials", DataTable),
            ["trial", "status", result.spec.objective, "setting", "run"], trial_rows(result),
        )  # fmt: skip
        title = self.query_one("#search-importance-title", Static)
        if result.importance:
            title.update(Text("parameter importance (share of the objective's variation)"))
        else:
            title.update(Text(result.importance_note or "", style="dim"))
        fill_table(
            self.query_one("#search-importance", DataTable), ["setting", "share", ""],
            importance_rows(result),
        )  # fmt: skip
