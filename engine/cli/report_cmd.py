"""`cnnlab report RUN_OR_SWEEP… --out DIR [--lang zh|en]`: the lab report as Markdown + PNGs.

Each argument is a sweep id (all its runs), a run id or unique prefix, a run folder, or
`latest`. Exit codes: 0 written, 1 a run or sweep that cannot be found or read.
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

from rich.console import Console

from engine.errors import CnnlabError


def register(subparsers) -> None:
    """Add `report`."""
    parser = subparsers.add_parser(
        "report",
        help="write report.md with charts for runs and sweeps",
        description="Write DIR/report.md plus PNG charts (curves with ±std over seeds, final "
        "metrics, time per epoch, confusion matrices, dehazing samples, HDC tables, the "
        "environment and the commands to reproduce) for the named runs and sweeps.",
    )
    parser.add_argument(
        "targets",
        nargs="+",
        metavar="RUN_OR_SWEEP",
        help="runs (id, name, short id), sweep ids or run folders",
    )
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--lang", choices=("en", "zh"), default="en", help="report language (default en)"
    )
    parser.add_argument(
        "--runs-dir", type=Path, default=None, help="default: $CNNLAB_RUNS or ./runs"
    )
    parser.set_defaults(func=run_report)


def _command_line(args: argparse.Namespace) -> str:
    words = ["cnnlab", "report", *args.targets, "--out", str(args.out)]
    if args.lang != "en":
        words += ["--lang", args.lang]
    if args.runs_dir is not None:
        words += ["--runs-dir", str(args.runs_dir)]
    return shlex.join(words)


def run_report(args: argparse.Namespace) -> int:
    from engine.report import write_report
    from engine.runs import RunStore
    from engine.sweeps import resolve_targets

    console = Console(highlight=False)
    try:
        records = resolve_targets(RunStore(args.runs_dir), args.targets)
        with console.status(f"drawing charts for {len(records)} run(s)…"):
            path = write_report(records, args.out, args.lang, report_command=_command_line(args))
    except CnnlabError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        return 1
    charts = len(re.findall(r"!\[[^\]]*\]\(figures/", path.read_text(encoding="utf-8")))
    console.print(f"wrote [bold]{path}[/] ({len(records)} run(s), {charts} chart(s))")
    return 0
