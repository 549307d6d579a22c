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
from engine.runs.files import default_runs_dir, read_json, read_json_lines_checked
from engine.runs.labels import (
    RunLabels,
    check_unique,
    make_labels,
    read_labels,
    read_labels_checked,
    write_labels,
)
from engine.runs.schema import check_config, check_metric_row, check_summary
from engine.runs.summary import primary_metric
from engine.runs.writer import CONFIG_FILE, METRICS_FILE, SUMMARY_FILE

logger = logging.getLogger(__name__)

# Folders in the runs root that are not runs: engine.sweeps keeps its state in `sweeps/`,
# and dashboards before 0.2 exported reports to `reports/`.
RESERVED_DIRS = frozenset({"sweeps", "reports"})


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
    warnings: list[str] = field(default_factory=list)  # e.g. a torn last metrics line
    labels: RunLabels = field(default_factory=RunLabels)  # the user's name, note, tags

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
    """Read one run folder; problems become `damaged`, never exceptions.

    Every field passes `engine.runs.schema`: one of the wrong type is dropped from the
    record and named as the damage, so readers can trust the types of what they get.
    """
    path = Path(path)
    record = RunRecord(run_id=path.name, path=path, status="damaged")
    record.labels, problem = read_labels_checked(path)
    if problem:  # the user's labels are not the run: a bad file is only a warning
        record.warnings.append(problem)
    try:
        summary = read_json(path / SUMMARY_FILE)
        if not isinstance(summary, dict):
            raise ValueError("not a JSON object")
    except FileNotFoundError:
        record.damaged = f"{SUMMARY_FILE} is missing"
        summary = {}
    except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        record.damaged = f"{SUMMARY_FILE} is unreadable ({exc})"
        summary = {}
    summary, problem = check_summary(summary)
    record.damaged = record.damaged or problem
    record.summary = summary
    record.config = _read_config(path, summary, record)
    if (path / METRICS_FILE).exists():
        try:
            lines = read_json_lines_checked(path / METRICS_FILE, check_metric_row)
            record.metrics, problem = lines.rows, lines.problem
            if lines.torn:
                record.warnings.append(lines.torn)
        except OSError as exc:
            problem = f"{METRICS_FILE} is unreadable ({exc})"
        record.damaged = record.damaged or problem
    if record.damaged is None:
        record.status = effective_status(summary)
        if record.status == "damaged":
            record.damaged = f"{SUMMARY_FILE} has an unknown status {summary.get('status')!r}"
        elif record.status == "completed" and not record.metrics:
            record.status = "damaged"
            record.damaged = f"the run says completed but {METRICS_FILE} has no readable epoch"
    return record


def _read_config(path: Path, summary: dict[str, Any], record: RunRecord) -> dict[str, Any]:
    try:
        config = read_json(path / CONFIG_FILE)
    except FileNotFoundError:
        config = summary.get("config")
    except (OSError, ValueError) as exc:
        record.damaged = record.damaged or f"{CONFIG_FILE} is unreadable ({exc})"
        config = summary.get("config")
    if not isinstance(config, dict):
        if config is not None:
            record.damaged = record.damaged or f"{CONFIG_FILE} is not a JSON object"
        return {}
    config, problem = check_config(config)
    record.damaged = record.damaged or problem
    return config


def looks_like_run(path: Path) -> bool:
    """A folder the trainer made: it has a summary.json or a config.json."""
    try:
        return (path / SUMMARY_FILE).is_file() or (path / CONFIG_FILE).is_file()
    except OSError:
        return False


class RunStore:
    """All runs under one folder (default: `$CNNLAB_RUNS` or `./runs`).

    Reading (`get`, `resolve`) accepts an id, a unique part of one, `latest`, or the path of
    a run folder anywhere. Writing (`delete`, and the trainer's resume through
    `run_folder`) only ever acts on a run folder directly inside `root`, found by its id.
    """

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

    def latest(self) -> Path:
        """The newest folder that is a run (a stray or half-made folder never is)."""
        for path in self.run_dirs():
            if looks_like_run(path):
                return path
        raise RunStoreError(f"no runs in {self.root} yet")

    def _by_id(self, ref: str) -> Path:
        """A run folder in `root` by id, name, short id, unique prefix or fragment, or `latest`.

        Tried in that order, so a full id always wins and a name (never hex, see
        `engine.runs.labels.check_name`) cannot be read as a short id.
        """
        if ref in ("latest", "last"):
            return self.latest()
        if is_run_name(ref) and "/" not in ref and _is_dir(self.root / ref):
            return self.root / ref
        handled = self.by_handle(ref)
        if handled is not None:
            return handled
        names = [p.name for p in self.run_dirs()]
        matches = [n for n in names if n.startswith(ref)] or [n for n in names if ref in n]
        if len(matches) == 1:
            return self.root / matches[0]
        if not matches:
            raise RunStoreError(f"no run {ref!r} in {self.root}")
        shown = ", ".join(matches[:5]) + (" …" if len(matches) > 5 else "")
        raise RunStoreError(f"{ref!r} matches {len(matches)} runs ({shown}); be more specific")

    def by_handle(self, ref: str) -> Path | None:
        """The run folder whose name or short id is `ref` (any case), or None when none is;
        `RunStoreError` when a short id is shared (the message lists the runs)."""
        dirs = self.run_dirs()
        for path in dirs:
            if read_labels(path).name.lower() == ref.lower():
                return path
        short = [p for p in dirs if short_id(p.name) == ref.lower()]
        if len(short) > 1:
            shown = ", ".join(p.name for p in short)
            raise RunStoreError(
                f"{ref!r} is the short id of {len(short)} runs ({shown}); "
                "name one by more of its id"
            )
        return short[0] if short else None

    def resolve(self, ref: str) -> Path:
        """The folder for `ref`: a run id in `root`, a unique id prefix or fragment,
        `latest`, or the path of a run folder (for reading only; see `run_folder`)."""
        ref = _checked_ref(ref)
        if not _is_path(ref):
            try:
                return self._by_id(ref)
            except RunStoreError:
                if not _is_dir(Path(ref)):
                    raise
        candidate = Path(ref).expanduser()
        if not _is_dir(candidate) or not looks_like_run(candidate):
            raise RunStoreError(f"{ref!r} is not a run folder (it has no {SUMMARY_FILE})")
        return candidate

    def run_folder(self, ref: str) -> Path:
        """The folder of a run in `root` that a command may change (delete, resume).

        `ref` is an id, a unique part of one or `latest`; a path is accepted only when it
        names a run folder directly inside `root` (the same as its id). Anything else —
        another folder, `..`, the root itself, a link, a folder that is not a run — is
        refused with `RunStoreError`, so nothing outside the runs folder is ever touched.
        """
        ref = _checked_ref(ref)
        if _is_path(ref):
            path = Path(ref).expanduser()
            parent = path.absolute().parent
            inside = path.name and parent.resolve() == self.root.resolve()
            if not inside or path.name in ("..", "."):
                raise RunStoreError(
                    f"{ref!r} is not a run in {self.root}: name the run by its id "
                    "(or pass --runs-dir for another runs folder)"
                )
            ref = path.name
        if not is_run_name(ref):
            raise RunStoreError(f"{ref!r} is not a run in {self.root}")
        path = self._by_id(ref)
        if path.is_symlink() or path.resolve().parent != self.root.resolve():
            raise RunStoreError(f"{path} is a link, not a run folder of {self.root}")
        if not looks_like_run(path):
            raise RunStoreError(f"{path} is not a run folder (it has no {SUMMARY_FILE})")
        return path

    def get(self, run_id: str) -> RunRecord:
        """One run by id (or unique prefix / fragment / path); `RunStoreError` if not found."""
        return read_run(self.resolve(run_id))

    def set_labels(self, ref: str, labels: RunLabels) -> RunLabels:
        """Store `labels` for a run in `root` (found as `run_folder` finds it) and return them.

        `ValueError` when a part is invalid or the name is another run's; the trainer's
        files are never touched, so a running run may be labelled.
        """
        path = self.run_folder(ref)
        labels = make_labels(labels.name, labels.note, labels.tags)  # ValueError first
        others = [(p.name, read_labels(p)) for p in self.run_dirs()]
        check_unique(labels.name, path.name, others)
        write_labels(path, labels)
        return read_labels(path)

    def delete(self, run_id: str) -> None:
        """Remove a run's folder (only ever one inside `root`; a running run is refused)."""
        path = self.run_folder(run_id)
        record = read_run(path)
        if record.status == "running":
            raise RunStoreError(f"run {path.name} is still running; cancel it first")
        shutil.rmtree(path)


def short_id(run_id: str) -> str | None:
    """The random tail of a run id (`3fa2` of `20250101-120000-conv-shapes-3fa2`), or None."""
    head, sep, tail = run_id.rpartition("-")
    if head and sep and len(tail) >= 4 and all(c in "0123456789abcdef" for c in tail):
        return tail
    return None


def short_handles(records: list[RunRecord]) -> dict[str, str]:
    """The handle to show for each run id: its name, else the shortest unique short form.

    The short form is the random tail when no other run shares it, else the shortest run of
    trailing id parts (`shapes-3fa2`, …) that is a fragment of no other id; every handle is
    accepted wherever a run is named (`RunStore.resolve`).
    """
    ids = [r.run_id for r in records]
    tails: dict[str, int] = {}
    for run_id in ids:
        tail = short_id(run_id)
        if tail:
            tails[tail] = tails.get(tail, 0) + 1
    handles = {}
    for record in records:
        if record.labels.name:
            handles[record.run_id] = record.labels.name
            continue
        tail = short_id(record.run_id)
        if tail and tails[tail] == 1:
            handles[record.run_id] = tail
            continue
        parts = record.run_id.split("-")
        handle = record.run_id
        for start in range(len(parts) - 2, 0, -1):
            piece = "-".join(parts[start:])
            if sum(piece in other for other in ids) == 1:
                handle = piece
                break
        handles[record.run_id] = handle
    return handles


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a name too long, a path through a file
        return False


def _checked_ref(ref: Any) -> str:
    if not isinstance(ref, (str, os.PathLike)) or not str(ref).strip():
        raise RunStoreError("name a run: an empty run id matches no run")
    return str(ref).strip()


def _is_path(ref: str) -> bool:
    """Whether `ref` is written as a path (`./x`, `runs/x`, `/abs`, `~/x`), not as an id."""
    return "/" in ref or os.sep in ref or ref in (".", "..") or ref.startswith("~")
