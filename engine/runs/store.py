"""`RunStore`: a tolerant reader of the runs folder.

The folder is shared by the CLI, dashboards and crashed processes, so the store never trusts
it: a damaged file turns that one run into a `damaged` record, and a summary that still
says `running` while its process is gone reads as `interrupted`.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import RunStoreError
from engine.events import STATUSES
from engine.runs.files import default_runs_dir, read_json, read_json_lines
from engine.runs.summary import primary_metric
from engine.runs.writer import CONFIG_FILE, METRICS_FILE, SUMMARY_FILE

logger = logging.getLogger(__name__)

# Folders in the runs root that are not runs (engine.sweeps keeps its state in `sweeps/`).
RESERVED_DIRS = frozenset({"sweeps"})


@dataclass
class RunRecord:
    """What is on disk for one run. `damaged` names the problem when a file is unreadable."""

    run_id: str
    path: Path
    status: str
    summary: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    damaged: str | None = None

    @property
    def task(self) -> str | None:
        return self.summary.get("task")

    @property
    def primary_metric(self) -> str:
        return primary_metric(self.task)

    @property
    def best_value(self) -> float | None:
        """The best value of the primary metric, or None before the first epoch."""
        value = (self.summary.get("best") or {}).get(self.primary_metric)
        return value if isinstance(value, (int, float)) else None


def is_run_name(name: str) -> bool:
    """False for the folders in a runs root that are not runs: hidden ones and `sweeps/`."""
    return not name.startswith(".") and name not in RESERVED_DIRS


def pid_alive(pid: int) -> bool:
    """True when process `pid` exists on this machine and is not a zombie."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def effective_status(summary: dict[str, Any]) -> str:
    """The status to show: `running` becomes `interrupted` when its process is gone."""
    status = summary.get("status")
    if status not in STATUSES:
        return "damaged"
    same_host = summary.get("host") == socket.gethostname()
    if status == "running" and same_host and not pid_alive(summary.get("pid")):
        return "interrupted"
    return status


def read_run(path: Path) -> RunRecord:
    """Read one run folder; problems become `damaged`, never exceptions."""
    path = Path(path)
    record = RunRecord(run_id=path.name, path=path, status="damaged")
    try:
        summary = read_json(path / SUMMARY_FILE)
        if not isinstance(summary, dict):
            raise ValueError("not a JSON object")
    except FileNotFoundError:
        record.damaged = f"{SUMMARY_FILE} is missing"
        summary = {}
    except (OSError, ValueError) as exc:
        record.damaged = f"{SUMMARY_FILE} is unreadable ({exc})"
        summary = {}
    record.summary = summary
    record.config = _read_config(path, summary, record)
    if (path / METRICS_FILE).exists():
        try:
            record.metrics, problem = read_json_lines(path / METRICS_FILE)
        except OSError as exc:
            problem = f"{METRICS_FILE} is unreadable ({exc})"
        record.damaged = record.damaged or problem
    if record.damaged is None:
        record.status = effective_status(summary)
        if record.status == "damaged":
            record.damaged = f"{SUMMARY_FILE} has an unknown status {summary.get('status')!r}"
    return record


def _read_config(path: Path, summary: dict[str, Any], record: RunRecord) -> dict[str, Any]:
    try:
        config = read_json(path / CONFIG_FILE)
    except FileNotFoundError:
        config = summary.get("config")
    except (OSError, ValueError) as exc:
        record.damaged = record.damaged or f"{CONFIG_FILE} is unreadable ({exc})"
        config = summary.get("config")
    return config if isinstance(config, dict) else {}


class RunStore:
    """All runs under one folder (default: `$CNNLAB_RUNS` or `./runs`)."""

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root is not None else default_runs_dir()

    def run_dirs(self) -> list[Path]:
        """Run folders, newest first (ids sort by time); hidden and reserved folders skipped."""
        if not self.root.is_dir():
            return []
        dirs = [p for p in self.root.iterdir() if p.is_dir() and is_run_name(p.name)]
        return sorted(dirs, key=lambda p: p.name, reverse=True)

    def list_runs(self) -> list[RunRecord]:
        """Every run, newest first; never raises because of what is inside a folder."""
        records = []
        for path in self.run_dirs():
            try:
                records.append(read_run(path))
            except Exception as exc:  # a folder must never break the listing
                logger.warning("cannot read run %s: %s", path, exc)
                records.append(RunRecord(path.name, path, "damaged", damaged=str(exc)))
        return records

    def resolve(self, ref: str) -> Path:
        """The folder for `ref`: a run id, a unique id prefix or fragment, a path, or `latest`."""
        candidate = Path(ref).expanduser()
        if is_run_name(candidate.name):
            if candidate.is_dir() and (candidate / SUMMARY_FILE).exists():
                return candidate
            if (self.root / ref).is_dir():
                return self.root / ref
        names = [p.name for p in self.run_dirs()]
        if ref in ("latest", "last") and names:
            return self.root / names[0]
        matches = [n for n in names if n.startswith(ref)] or [n for n in names if ref in n]
        if len(matches) == 1:
            return self.root / matches[0]
        if not matches:
            raise RunStoreError(f"no run {ref!r} in {self.root}")
        shown = ", ".join(matches[:5]) + (" …" if len(matches) > 5 else "")
        raise RunStoreError(f"{ref!r} matches {len(matches)} runs ({shown}); be more specific")

    def get(self, run_id: str) -> RunRecord:
        """One run by id (or unique prefix / fragment / path); `RunStoreError` if not found."""
        return read_run(self.resolve(run_id))

    def delete(self, run_id: str) -> None:
        """Remove a run's folder; a run that is still running cannot be deleted."""
        path = self.resolve(run_id)
        record = read_run(path)
        if record.status == "running":
            raise RunStoreError(f"run {path.name} is still running; cancel it first")
        shutil.rmtree(path)
