"""Checks before a run continues from its checkpoint, and the history it continues.

A resumed run keeps its folder, id and curves; it may change its length and optimiser
hyper-parameters, but not what fixes the data split or the network's shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import ConfigError, RunStoreError
from engine.runs import RunStore, read_run
from engine.runs.files import probe_writable, read_json_lines
from engine.runs.writer import METRICS_FILE
from engine.trainer.checkpoint import LAST, checkpoint_facts
from engine.trainer.config import TrainConfig, apply_overrides
from engine.trainer.distributed import world_size_problem

# Fields that fix the data split or the network shape: a resumed run must keep them.
RESUME_FIXED = (
    "dataset",
    "image_size",
    "resize",
    "test_fraction",
    "val_fraction",
    "model",
    "model_options",
    "init_from",
    "seed",
    "normalize",
    "optimizer",
)


@dataclass(frozen=True)
class ResumePlan:
    """What a resumed run continues from: its config, folder, finished epochs and when it
    was first started (its summary keeps that start)."""

    config: TrainConfig
    run_dir: Path
    done: int
    started_at: str | None


def _saved_run(resume: Path | str, runs_dir: Path) -> tuple[Path, Any]:
    """The run folder (only ever one inside `runs_dir`, `RunStore.run_folder`) and record."""
    run_dir = RunStore(runs_dir).run_folder(str(resume))
    record = read_run(run_dir)
    if record.status == "running":
        raise RunStoreError(f"run {run_dir.name} is still running; it cannot be resumed twice")
    if record.damaged:
        raise RunStoreError(
            f"run {run_dir.name} is damaged ({record.damaged}); resuming it could lose "
            "epochs, so it is left as it is"
        )
    if not record.config:
        raise RunStoreError(f"run {run_dir.name} has no readable config.json to resume from")
    return run_dir, record


def resume_config(
    resume: Path | str, runs_dir: Path | str, overrides: dict[str, Any]
) -> TrainConfig:
    """The saved config of run `resume` ← `overrides` (`cnnlab train --resume RUN --epochs
    20`), merged by the same rule as defaults ← preset ← flags."""
    _, record = _saved_run(resume, Path(runs_dir))
    return apply_overrides(TrainConfig.from_dict(record.config), overrides)


def prepare_resume(
    resume: Path | str, runs_dir: Path, config: TrainConfig | None, *, world_size: int = 1
) -> ResumePlan:
    """Check that run `resume` may continue with `config` on `world_size` processes and say
    from where.

    `resume` is an id (prefix, `latest`) in `runs_dir` or the path of a run folder directly
    inside it; `config` None reuses the saved config. Raises RunStoreError / ConfigError /
    StorageError (the folder cannot be written) with a message for a person.
    """
    run_dir, record = _saved_run(resume, runs_dir)
    probe_writable(run_dir)  # a read-only or full disk fails now, not after an epoch
    if config is None:
        config = TrainConfig.from_dict(record.config)
    conflicts = resume_conflicts(record.config, config)
    if conflicts:
        raise ConfigError(conflicts)
    config.ensure_valid()
    done, saved_world = checkpoint_facts(run_dir / LAST)
    problem = world_size_problem(saved_world, world_size, run_dir.name)
    if problem:
        raise ConfigError({"nproc_per_node": problem})
    if config.epochs <= done:
        raise ConfigError(
            {
                "epochs": f"run {run_dir.name} already has {done} epochs; "
                f"set epochs above {done} to continue it"
            }
        )
    started_at = record.summary.get("started_at")
    return ResumePlan(config, run_dir, done, started_at if isinstance(started_at, str) else None)


def resumed_history(run_dir: Path, finished_epochs: int) -> list[dict[str, Any]]:
    """Metric rows of the epochs a resumed run keeps (those its checkpoint covers)."""
    if finished_epochs <= 0:
        return []
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return []
    rows, _ = read_json_lines(path)
    return [r for r in rows if isinstance(r.get("epoch"), int) and r["epoch"] <= finished_epochs]


def resume_conflicts(saved: dict[str, Any], config: TrainConfig) -> dict[str, str]:
    """Field → message for each field a resumed run may not change."""
    current = config.to_dict()
    return {
        key: f"cannot change when resuming (the run used {saved[key]!r})"
        for key in RESUME_FIXED
        if key in saved and saved[key] != current[key]
    }
