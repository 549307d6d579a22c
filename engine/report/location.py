"""Where a report goes: never where it could be taken for a run.

A folder directly inside a runs folder is read as a run (a `damaged` one, offered to
compare, picked as `latest`), so reports default to a `reports/` folder beside the runs
folder, and a report folder that would sit directly inside a runs folder is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from engine.errors import CnnlabError
from engine.runs.store import RESERVED_DIRS

REPORTS_FOLDER = "reports"


def default_report_dir(runs_dir: Path | str, now: datetime | None = None) -> Path:
    """`<folder holding the runs folder>/reports/<YYYYmmdd-HHMMSS>/`: beside `runs/`, one new
    folder per report (`./runs` → `./reports/20250101-120000`)."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    return Path(runs_dir).absolute().parent / REPORTS_FOLDER / stamp


def _inside_as_run(out_dir: Path, runs_dir: Path) -> bool:
    """Whether `out_dir` is `runs_dir` itself or a folder the run store would list."""
    out, runs = out_dir.absolute().resolve(), runs_dir.absolute().resolve()
    if out == runs:
        return True
    return out.parent == runs and not out.name.startswith(".") and out.name not in RESERVED_DIRS


def check_report_dir(out_dir: Path | str, runs_dirs: Iterable[Path | str]) -> None:
    """`CnnlabError` when `out_dir` would be listed as a run in one of `runs_dirs`."""
    for runs_dir in runs_dirs:
        if _inside_as_run(Path(out_dir), Path(runs_dir)):
            raise CnnlabError(
                f"{out_dir} is inside the runs folder {runs_dir}, where it would be taken "
                f"for a run: write the report elsewhere (default "
                f"{default_report_dir(runs_dir).parent}/…)"
            )
