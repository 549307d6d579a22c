"""Checks before a run continues from its checkpoint, and the history it continues.

A resumed run keeps its folder, id and curves; it may change its length and optimiser
hyper-parameters, but not what fixes the data split or the network's shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.errors import ConfigError, RunStoreError
from engine.runs import RunStore, read_run
from engine.runs.files import read_json_lines
from engine.runs.writer import METRICS_FILE
from engine.trainer.checkpoint import LAST, checkpoint_epoch
from engine.trainer.config import TrainConfig
from engine.trainer.setup import resume_conflicts


def prepare_resume(
    resume: Path | str, runs_dir: Path, config: TrainConfig | None
) -> tuple[TrainConfig, Path, int]:
    """(config to use, run folder, epochs already done) for resuming `resume`.

    `resume` is a run folder or an id (prefix) in `runs_dir`; `config` None reuses the saved
    config. Raises RunStoreError / ConfigError with a message for a person.
    """
    run_dir = RunStore(runs_dir).resolve(str(resume))
    record = read_run(run_dir)
    if record.status == "running":
        raise RunStoreError(f"run {run_dir.name} is still running; it cannot be resumed twice")
    if not record.config:
        raise RunStoreError(f"run {run_dir.name} has no readable config.json to resume from")
    if config is None:
        config = TrainConfig.from_dict(record.config)
    conflicts = resume_conflicts(record.config, config)
    if conflicts:
        raise ConfigError(conflicts)
    config.ensure_valid()
    done = checkpoint_epoch(run_dir / LAST)
    if config.epochs <= done:
        raise ConfigError(
            {
                "epochs": f"run {run_dir.name} already has {done} epochs; "
                f"set epochs above {done} to continue it"
            }
        )
    return config, run_dir, done


def resumed_history(run_dir: Path, finished_epochs: int) -> list[dict[str, Any]]:
    """Metric rows of the epochs a resumed run keeps (those its checkpoint covers)."""
    if finished_epochs <= 0:
        return []
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return []
    rows, _ = read_json_lines(path)
    return [r for r in rows if isinstance(r.get("epoch"), int) and r["epoch"] <= finished_epochs]
