"""Small file primitives the run store relies on: atomic JSON writes, JSON-lines appends,
and the default runs folder.

A reader (another process, the dashboard) must never see half a file, so whole-file writes go
to a temporary file in the same folder and are renamed over the target. Metrics are appended
one line at a time and flushed at once, so a killed process loses at most the epoch it was in.
"""

from __future__ import annotations

import json
import math
import os
import threading
from pathlib import Path
from typing import Any

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


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that readers see the old file or the new one, never half."""
    path = Path(path)
    temp = _temp_path(path)
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    finally:
        if temp.exists():
            temp.unlink()


def write_json_atomic(path: Path, data: Any) -> None:
    """Write `data` as indented JSON, atomically."""
    text = json.dumps(json_safe(data), indent=2, allow_nan=False) + "\n"
    write_bytes_atomic(path, text.encode("utf-8"))


def append_json_line(path: Path, row: dict[str, Any], *, sync: bool = True) -> None:
    """Append one JSON line and flush it to disk at once (`sync=False`: to the OS only, for
    frequent rows that may be lost in a crash)."""
    line = json.dumps(json_safe(row), allow_nan=False) + "\n"
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        if sync:
            os.fsync(handle.fileno())


def write_json_lines_atomic(path: Path, rows: list[dict[str, Any]]) -> None:
    """Replace a JSON-lines file with `rows` (used when a resumed run trims its history)."""
    text = "".join(json.dumps(json_safe(r), allow_nan=False) + "\n" for r in rows)
    write_bytes_atomic(path, text.encode("utf-8"))


def read_json(path: Path) -> Any:
    """Parse a JSON file (raises OSError / ValueError for the caller to report)."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def read_json_lines(path: Path) -> tuple[list[dict[str, Any]], str | None]:
    """Rows of a JSON-lines file, and a problem description when a line is damaged.

    A last line without its newline is a write cut short by a killed process: it is dropped
    silently, because every finished line before it is intact.
    """
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    lines = text.split("\n")
    torn_tail = lines.pop()  # "" when the file ends with a newline
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            return rows, f"{Path(path).name} line {number} is not valid JSON ({exc})"
        if not isinstance(row, dict):
            return rows, f"{Path(path).name} line {number} is not a JSON object"
        rows.append(row)
    del torn_tail
    return rows, None
