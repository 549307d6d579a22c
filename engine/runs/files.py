"""Small file primitives the run store relies on: atomic JSON writes, JSON-lines appends,
and the default runs folder.

A reader (another process, the dashboard) must never see half a file, so whole-file writes go
to a temporary file in the same folder and are renamed over the target. Metrics are appended
one line at a time and flushed at once, so a killed process loses at most the epoch it was in.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import StorageError

RUNS_ENV = "CNNLAB_RUNS"


def default_runs_dir() -> Path:
    """Where runs live unless told otherwise: `$CNNLAB_RUNS`, else `./runs`."""
    return Path(os.environ.get(RUNS_ENV) or "runs")


def json_safe(value: Any) -> Any:
    """A copy of `value` that strict JSON can hold (NaN/inf → None, tuples → lists)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


_REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}


def write_failure(exc: OSError, path: Path | str) -> StorageError:
    """A `StorageError` naming the path and the reason in words ("no space left on device")."""
    reason = _REASONS.get(exc.errno) or exc.strerror or str(exc)
    return StorageError(f"cannot write {path}: {reason}", errno=exc.errno, reason=reason)


def write_bytes_atomic(path: Path, data: bytes | memoryview) -> None:
    """Replace `path` with `data` so that readers see the old file or the new one, never half.

    A failed write (disk full, read-only folder) raises `StorageError` and leaves no
    temporary file behind.
    """
    path = Path(path)
    temp = _temp_path(path)
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except OSError as exc:
        raise write_failure(exc, path) from exc
    finally:
        if temp.exists():
            temp.unlink()


def probe_writable(folder: Path) -> None:
    """Create, fill, sync and remove a small file in `folder`; `StorageError` if it fails.

    Mode bits and `os.access` say nothing for root or a read-only mount, so only a real
    write tells whether a run's files can be written."""
    probe = Path(folder) / f".cnnlab-write-probe.{os.getpid()}.{threading.get_ident()}"
    try:
        with open(probe, "wb") as handle:
            handle.write(b"\0" * 4096)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise write_failure(exc, folder) from exc
    finally:
        with contextlib.suppress(OSError):  # never made, or the folder refuses even that
            probe.unlink()


def write_json_atomic(path: Path, data: Any) -> None:
    """Write `data` as indented JSON, atomically."""
    text = json.dumps(json_safe(data), indent=2, allow_nan=False) + "\n"
    write_bytes_atomic(path, text.encode("utf-8"))


def append_json_line(path: Path, row: dict[str, Any], *, sync: bool = True) -> None:
    """Append one JSON line and flush it to disk at once (`sync=False`: to the OS only, for
    frequent rows that may be lost in a crash).

    When the write fails (disk full) the file is cut back to its previous length, so it
    never ends in half a line; the failure is raised as `StorageError`.
    """
    line = (json.dumps(json_safe(row), allow_nan=False) + "\n").encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise write_failure(exc, path) from exc
    try:
        start = os.lseek(fd, 0, os.SEEK_END)
        try:
            view = memoryview(line)
            while view:  # a full disk may take part of the line before it refuses
                view = view[os.write(fd, view) :]
            if sync:
                os.fsync(fd)
        except OSError as exc:
            os.ftruncate(fd, start)
            raise write_failure(exc, path) from exc
    finally:
        os.close(fd)


def write_json_lines_atomic(path: Path, rows: list[dict[str, Any]]) -> None:
    """Replace a JSON-lines file with `rows` (used when a resumed run trims its history)."""
    text = "".join(json.dumps(json_safe(r), allow_nan=False) + "\n" for r in rows)
    write_bytes_atomic(path, text.encode("utf-8"))


def read_json(path: Path) -> Any:
    """Parse a JSON file (raises OSError / ValueError for the caller to report)."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


@dataclass
class JsonLines:
    """What a JSON-lines file holds: its good rows, the first damaged line (None when all
    are fine), and a note when its last line was cut short."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None
    torn: str | None = None


def read_json_lines_checked(
    path: Path, check: Callable[[dict[str, Any], str], str | None] | None = None
) -> JsonLines:
    """Rows of a JSON-lines file up to the first damaged one, which is described.

    A last line without its newline is a write cut short by a killed process: it is dropped,
    because every finished line before it is intact, and `torn` says so. `check(row, where)`
    may name a problem with a row's fields (it then counts as damaged).
    """
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    lines = text.split("\n")
    torn_tail = lines.pop()  # "" when the file ends with a newline
    result = JsonLines()
    name = Path(path).name
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            result.problem = f"{name} line {number} is not valid JSON ({exc})"
            return result
        if not isinstance(row, dict):
            result.problem = f"{name} line {number} is not a JSON object"
            return result
        problem = check(row, f"{name} line {number}") if check else None
        if problem:
            result.problem = problem
            return result
        result.rows.append(row)
    if torn_tail.strip():
        result.torn = (
            f"{name} ends in a line cut short (line {len(lines) + 1}, an epoch whose write "
            "was interrupted); it is ignored"
        )
    return result


def read_json_lines(path: Path) -> tuple[list[dict[str, Any]], str | None]:
    """Rows of a JSON-lines file, and a problem description when a line is damaged (a torn
    last line is dropped; `read_json_lines_checked` also reports it)."""
    result = read_json_lines_checked(path)
    return result.rows, result.problem
