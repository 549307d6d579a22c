"""The lab report: `report.md` plus PNG charts, in English or Chinese.

    write_report(records, "report/", lang="zh")   # records: RunRecords (runs or sweeps)

Charts are drawn with matplotlib on the Agg canvas (no display needed). Headings, table
heads and captions follow `lang`; chart text does too when a CJK font is installed, and
stays English otherwise (see `engine.report.i18n`). Numbers are identical in both.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.report.i18n import LANGUAGES, check_language, find_cjk_font

__all__ = ["LANGUAGES", "find_cjk_font", "write_report"]


def write_report(
    records: Sequence[Any],
    out_dir: Path | str,
    lang: str = "en",
    *,
    report_command: str | None = None,
) -> Path:
    """Write `<out_dir>/report.md` and `<out_dir>/figures/*.png`; returns report.md's path.

    `records` are run records (`engine.runs.RunRecord`; see `engine.sweeps.resolve_targets`
    to expand sweep ids). `report_command` is shown under "How to reproduce".
    Raises CnnlabError for an unknown language, when no run is readable, or when `out_dir`
    would sit in a runs folder of the records as if it were a run.
    """
    from engine.report.builder import build_report
    from engine.report.location import check_report_dir

    check_language(lang)
    check_report_dir(out_dir, {Path(r.path).parent for r in records if getattr(r, "path", None)})
    return build_report(records, Path(out_dir), lang, report_command)
