"""What a search found, read from its study: every trial (values, objective, outcome, run),
the best one, and how much each setting mattered — for `cnnlab sweeps` and Compare.

Optuna is imported here only when a search is read, so listing runs stays light.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import RunStoreError
from engine.sweeps.search import SearchSpec, load_search, search_dir, study_url
from engine.sweeps.search_runner import COUNTED
from engine.trainer.config import format_value

STATES = {"COMPLETE": "completed", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running",
          "WAITING": "queued"}  # fmt: skip


@dataclass(frozen=True)
class TrialRow:
    """One trial: its number, outcome, objective value (last reported one when pruned),
    the values it tried and its run."""

    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    run_id: str | None
    counted: bool


@dataclass(frozen=True)
class SearchResult:
    search_id: str
    spec: SearchSpec
    trials: list[TrialRow] = field(default_factory=list)
    best: TrialRow | None = None
    importance: dict[str, float] | None = None
    importance_note: str | None = None

    @property
    def done(self) -> int:
        return sum(row.counted for row in self.trials)

    @property
    def progress_text(self) -> str:
        return f"{self.done}/{self.spec.trials} trials"


def read_search(runs_dir: Path, search_id: str, *, importance: bool = False) -> SearchResult:
    """The search's trials and best trial; `importance` also computes each setting's share
    of the objective's variation (Optuna's PED-ANOVA: needs a few completed trials)."""
    spec = load_search(runs_dir, search_id)
    if not (search_dir(runs_dir, search_id) / "study.db").is_file():
        return SearchResult(search_id, spec)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=search_id, storage=study_url(runs_dir, search_id))
    except Exception as exc:  # a damaged database: say so, never crash a listing
        raise RunStoreError(f"the study of {search_id} cannot be read ({exc})") from None
    rows = [_row(trial, spec) for trial in study.get_trials(deepcopy=False)]
    complete = [row for row in rows if row.state == "completed" and row.value is not None]
    best = None
    if complete:
        pick = max if spec.direction == "maximize" else min
        best = pick(complete, key=lambda row: row.value)
    scores, note = (None, None)
    if importance:
        scores, note = _importance(study, len(complete))
    return SearchResult(search_id, spec, rows, best, scores, note)


def _row(trial: Any, spec: SearchSpec) -> TrialRow:
    state = STATES.get(trial.state.name, trial.state.name.lower())
    params = {}
    for key, value in trial.params.items():  # listed values are stored as their text
        choices = spec.space.get(key)
        shown = {format_value(v): v for v in choices} if isinstance(choices, list) else {}
        params[key] = shown.get(value, value)
    value = trial.value
    if value is None and trial.intermediate_values:
        value = trial.intermediate_values[max(trial.intermediate_values)]
    counted = state in ("completed", "pruned") or bool(trial.user_attrs.get(COUNTED))
    return TrialRow(trial.number, state, value, params, trial.user_attrs.get("run_id"), counted)


def _importance(study: Any, completed: int) -> tuple[dict[str, float] | None, str | None]:
    if completed < 2:
        return None, "parameter importance needs at least 2 completed trials"
    import optuna

    try:
        evaluator = optuna.importance.PedAnovaImportanceEvaluator()
        scores = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except Exception as exc:  # too few distinct values, one parameter only, …
        return None, f"parameter importance not available ({exc})"
    return {key: float(value) for key, value in scores.items()}, None
