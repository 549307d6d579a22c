"""Which sweep (and which point of it) a run belongs to, recorded in the run's own folder.

`sweep.json` is written into the run folder as soon as the run starts, so even a run
whose process is killed can be traced back to its sweep. When the run ends, `sweep_id`
and `sweep_point` are also added to its `summary.json` (the run-store contract), after
the trainer's writer is done with the file.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from engine.runs.files import read_json, write_json_atomic
from engine.runs.schema import TEXT, check_sweep_point
from engine.sweeps.grid import SweepPoint

log = logging.getLogger(__name__)

MEMBERSHIP_FILE = "sweep.json"


def point_record(point: SweepPoint) -> dict[str, Any]:
    """The JSON form of a point stored with each member run."""
    return {"index": point.index, "setting": dict(point.setting), "seed": point.seed}


def write_membership(run_dir: Path, sweep_id: str, point: SweepPoint) -> None:
    """Tag a run folder as a member of `sweep_id` at `point`."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(
        run_dir / MEMBERSHIP_FILE, {"sweep_id": sweep_id, "sweep_point": point_record(point)}
    )


def stamp_summary(run_dir: Path, sweep_id: str, point: SweepPoint) -> bool:
    """Add `sweep_id` / `sweep_point` to a finished run's summary.json; False if unreadable."""
    path = Path(run_dir) / "summary.json"
    try:
        summary = read_json(path)
    except (OSError, ValueError) as exc:
        log.warning("cannot add the sweep id to %s (%s)", path, exc)
        return False
    if not isinstance(summary, dict):
        return False
    summary["sweep_id"] = sweep_id
    summary["sweep_point"] = point_record(point)
    write_json_atomic(path, summary)
    return True


def read_membership(record: Any) -> tuple[str, dict[str, Any]] | None:
    """(sweep_id, sweep_point) of a run record, or None when it is not a sweep member.

    Reads the summary first (the contract), then the run folder's `sweep.json` (runs cut
    short before their summary was stamped).
    """
    summary = getattr(record, "summary", None) or {}
    if isinstance(summary, dict) and summary.get("sweep_id"):  # checked by the run store
        return str(summary["sweep_id"]), dict(summary.get("sweep_point") or {})
    path = getattr(record, "path", None)
    if path is None:
        return None
    tag_path = Path(path) / MEMBERSHIP_FILE
    if not tag_path.is_file():
        return None
    try:
        data = read_json(tag_path)
        if not isinstance(data, dict) or not TEXT(data.get("sweep_id")):
            raise ValueError("no sweep_id text")
        problem = check_sweep_point(data.get("sweep_point", {"index": -1}), MEMBERSHIP_FILE)
        if problem:
            raise ValueError(problem)
        return data["sweep_id"], dict(data.get("sweep_point") or {})
    except (OSError, ValueError) as exc:
        log.warning("ignoring damaged %s (%s)", tag_path, exc)
        return None
