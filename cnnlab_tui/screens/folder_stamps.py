"""Cheap stamps of run folders: they change whenever a run is added, removed or written.

Screens that show the run store poll these (a few `stat` calls per run) and re-read the
store only when a stamp changed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def run_stamp(run_dir: Path | str) -> tuple:
    """What changes whenever one run's files are written (three stats)."""
    stamp: list[Any] = [os.path.basename(run_dir)]
    for name in ("summary.json", "metrics.jsonl", "config.json"):
        try:
            info = os.stat(os.path.join(run_dir, name))
            stamp.append((info.st_mtime_ns, info.st_size))
        except OSError:
            stamp.append(None)
    return tuple(stamp)


def folder_fingerprint(root: Path) -> tuple:
    """What changes whenever a run is added, removed or written (cheap: a few stats each)."""
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return ()
    return tuple(
        run_stamp(entry.path)
        for entry in entries
        if not entry.name.startswith(".") and entry.is_dir()
    )
