"""The run store: one folder per run, written by `RunWriter`, read by `RunStore`."""

from engine.runs.files import default_runs_dir
from engine.runs.ids import new_run_id
from engine.runs.store import RunRecord, RunStore, effective_status, read_run
from engine.runs.summary import SummaryTracker, primary_metric
from engine.runs.writer import RunWriter

__all__ = [
    "RunRecord",
    "RunStore",
    "RunWriter",
    "SummaryTracker",
    "default_runs_dir",
    "effective_status",
    "new_run_id",
    "primary_metric",
    "read_run",
]
