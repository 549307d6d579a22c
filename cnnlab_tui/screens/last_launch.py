"""What was launched last from a runs folder, remembered for the next session.

New run opens on the config launched last (and, after a sweep, on the lists that were
typed); the file is hidden so the run store never lists it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LAST_CONFIG_FILE = ".cnnlab-dashboard.json"  # hidden: the run store skips dot-files


def _read_last(runs_dir: Path) -> dict[str, Any]:
    path = Path(runs_dir) / LAST_CONFIG_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def load_last_config(runs_dir: Path) -> dict[str, Any] | None:
    """The config launched last from this runs folder, or None (unreadable counts as none)."""
    config = _read_last(runs_dir).get("last_config")
    return config if isinstance(config, dict) else None


def load_last_sweep_texts(runs_dir: Path) -> dict[str, str]:
    """Field key → the text typed there when the last launch was a sweep ("1e-2, 1e-3",
    Seeds "3"): the config alone keeps only each list's first value."""
    texts = _read_last(runs_dir).get("sweep_texts")
    if not isinstance(texts, dict):
        return {}
    return {str(k): v for k, v in texts.items() if isinstance(v, str)}


def save_last_config(
    runs_dir: Path, config: dict[str, Any], sweep_texts: dict[str, str] | None = None
) -> None:
    """Remember `config` (and a sweep's typed lists) for the next session (atomic write;
    failures only logged)."""
    path = Path(runs_dir) / LAST_CONFIG_FILE
    data = {"last_config": config, "sweep_texts": sweep_texts or {}}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, default=str))
        tmp.replace(path)
    except OSError as exc:
        log.warning("cannot remember the last config in %s: %s", path, exc)
