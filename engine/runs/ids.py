"""Run ids that sort by time and read at a glance: `20250101-120000-conv-shapes-3fa2`."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from pathlib import Path

_UNSAFE = re.compile(r"[^a-z0-9_]+")


def _slug(text: str) -> str:
    return _UNSAFE.sub("_", str(text).lower()).strip("_") or "x"


def new_run_id(model: str, dataset: str, runs_dir: Path | None = None) -> str:
    """A fresh id `YYYYmmdd-HHMMSS-<model>-<dataset>-<4 hex>`, unused in `runs_dir`."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    while True:
        run_id = f"{stamp}-{_slug(model)}-{_slug(dataset)}-{secrets.token_hex(2)}"
        if runs_dir is None or not (Path(runs_dir) / run_id).exists():
            return run_id
