"""Sweeps: a grid of settings × seeds run as one resumable group of ordinary runs.

    base = resolve_config("lab-conv")                       # engine.presets
    spec = build_spec(base, parse_grid([("lr", "1e-2,1e-3")], base.model), parse_seeds("3"))
    SweepRunner(spec, runs_dir).run()          # re-running resumes: completed points skip
    aggregate(sweep_records(RunStore(runs_dir), spec.sweep_id))  # mean ± std per setting

Nothing here runs at import time; the trainer is imported only when a point runs.
"""

from engine.sweeps.aggregate import (
    Curve,
    MeanStd,
    SettingAggregate,
    SweepGroup,
    aggregate,
    aggregate_sweep,
    differing_fields,
    final_values,
    flat_config,
    group_runs_by_sweep,
    mean_std,
    runs_outside_sweeps,
)
from engine.sweeps.events import PointFinished, PointStarted, SweepFinished, SweepStarted
from engine.sweeps.grid import (
    SweepPoint,
    expand_grid,
    format_value,
    parse_grid,
    parse_grid_arg,
    parse_grid_values,
    parse_seeds,
    setting_label,
)
from engine.sweeps.lookup import (
    SweepProgress,
    list_sweep_ids,
    resolve_targets,
    sweep_progress,
    sweep_records,
)
from engine.sweeps.membership import read_membership
from engine.sweeps.runner import PlannedPoint, SweepRunner, effective_parallel
from engine.sweeps.spec import (
    SweepSpec,
    build_spec,
    planned_configs,
    point_config,
    reference_config,
)
from engine.sweeps.state import SweepState, list_sweeps, load_state

__all__ = [
    "Curve",
    "MeanStd",
    "PlannedPoint",
    "PointFinished",
    "PointStarted",
    "SettingAggregate",
    "SweepFinished",
    "SweepGroup",
    "SweepPoint",
    "SweepProgress",
    "SweepRunner",
    "SweepSpec",
    "SweepStarted",
    "SweepState",
    "aggregate",
    "aggregate_sweep",
    "build_spec",
    "differing_fields",
    "effective_parallel",
    "expand_grid",
    "final_values",
    "flat_config",
    "format_value",
    "group_runs_by_sweep",
    "list_sweep_ids",
    "list_sweeps",
    "load_state",
    "mean_std",
    "parse_grid",
    "parse_grid_arg",
    "parse_grid_values",
    "parse_seeds",
    "planned_configs",
    "point_config",
    "read_membership",
    "reference_config",
    "resolve_targets",
    "runs_outside_sweeps",
    "setting_label",
    "sweep_progress",
    "sweep_records",
]
