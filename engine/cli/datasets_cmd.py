"""`cnnlab datasets`: what data is found under the data root, with counts per class and split.

By default only folders are listed (instant); `--check` decodes each set found (through the
cache) and reports the exact counts and every skipped file; `--download` fetches CIFAR-10
with torchvision, or says clearly that the machine is offline.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from engine.cli.cache_flag import add_cache_flag, use_cache_flag
from engine.errors import CnnlabError, DatasetError

if TYPE_CHECKING:
    from engine.datasets import DatasetStatus
    from engine.datasets.bundle import DatasetBundle

STATE_STYLES = {"found": "green", "missing": "yellow", "error": "bold red"}
MAX_SKIPPED_SHOWN = 20


def register(subparsers) -> None:
    """Add `datasets`."""
    parser = subparsers.add_parser(
        "datasets",
        help="list the data sets found under the data root",
        description="List the data sets cnnlab can load, where it looked, and counts per "
        "class and split. The data root may be the folder holding the data sets or one "
        "data set's own folder.",
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help="only these (default: every data set)"
    )
    parser.add_argument(
        "--data-root", type=Path, default=None,
        help="data root or a data set folder (default: $CNNLAB_DATA or ./data)",
    )  # fmt: skip
    parser.add_argument(
        "--download", action="store_true",
        help="download CIFAR-10 with torchvision into DATA_ROOT/cifar10 first (needs internet)",
    )  # fmt: skip
    parser.add_argument(
        "--check", action="store_true",
        help="decode every set found (cached) to report exact counts and unreadable files",
    )  # fmt: skip
    parser.add_argument(
        "--image-size", type=int, default=32, help="image size for --check (default 32)"
    )
    add_cache_flag(parser)
    parser.set_defaults(func=run_datasets)


def run_datasets(args: argparse.Namespace) -> int:
    from engine.datasets import default_data_root, probe_dataset

    console = Console()
    errors = Console(stderr=True)
    use_cache_flag(args)
    try:
        names = _selected(args.names, args.download)
        if args.download:
            from engine.datasets.cifar10 import download_cifar10

            target = download_cifar10(args.data_root or default_data_root())
            console.print(f"[green]CIFAR-10 is in {target}[/green]")
        statuses = [probe_dataset(name, args.data_root) for name in names]
        root = args.data_root or default_data_root()
        console.print(_summary_table(statuses, root))
        for status in statuses:
            if status.found and args.check:
                bundle = _load_with_progress(status.name, args.data_root, args.image_size, console)
                _print_bundle(console, bundle)
                _print_skipped(console, bundle.skipped)
                for warning in bundle.warnings:
                    console.print(f"[yellow]warning:[/yellow] {escape(warning)}")
            elif status.found:
                _print_status(console, status)
                _print_skipped(console, status.skipped)
    except CnnlabError as error:
        errors.print(f"[bold red]error:[/bold red] {escape(str(error))}", highlight=False)
        return 1
    return 0


def _selected(names: list[str], download: bool) -> list[str]:
    from engine.datasets import DATASETS

    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        raise DatasetError(
            f"unknown data set(s) {', '.join(unknown)}; known: {', '.join(DATASETS)}"
        )
    if download and any(n != "cifar10" for n in names):
        raise DatasetError("--download only applies to cifar10")
    return names or list(DATASETS)


def _summary_table(statuses: list[DatasetStatus], root: Path) -> Table:
    table = Table(title=f"Data sets (data root: {root.resolve()})", title_justify="left")
    table.add_column("name", style="bold")
    table.add_column("task")
    table.add_column("status")
    table.add_column("images", justify="right")
    table.add_column("where / why", overflow="fold")
    for s in statuses:
        style = STATE_STYLES.get(s.state, "")
        detail = s.where if s.found else s.message
        images = str(s.count) if s.found else "-"
        table.add_row(s.name, s.task, Text(s.state, style=style), images, Text(detail))
    return table


def _counts_table(rows: dict[str, dict[str, int]]) -> Table:
    table = Table()
    table.add_column("class" if "pairs" not in rows else "", style="bold")
    for split in ("train", "val", "test", "total"):
        table.add_column(split, justify="right")
    totals = {"train": 0, "val": 0, "test": 0}
    for group, counts in rows.items():
        table.add_row(group, *(str(counts.get(k, 0)) for k in totals), str(sum(counts.values())))
        for key in totals:
            totals[key] += counts.get(key, 0)
    if len(rows) > 1:
        totals_row = [str(v) for v in totals.values()] + [str(sum(totals.values()))]
        table.add_row("all", *totals_row, style="bold")
    return table


def _print_status(console: Console, status: DatasetStatus) -> None:
    console.print(f"\n[bold]{status.name}[/bold]  {status.where}  (files found, default split)")
    console.print(_counts_table(status.splits))


def _print_bundle(console: Console, bundle: DatasetBundle) -> None:
    size = bundle.image_size
    console.print(f"\n[bold]{bundle.name}[/bold]  {bundle.source}  (decoded at {size} px)")
    console.print(_counts_table(bundle.class_counts()))


def _print_skipped(console: Console, skipped: list[tuple[str, str]]) -> None:
    if not skipped:
        return
    console.print(f"[yellow]{len(skipped)} file(s) skipped:[/yellow]")
    for name, reason in skipped[:MAX_SKIPPED_SHOWN]:
        console.print(f"  {name}: {reason}", highlight=False, markup=False)
    if len(skipped) > MAX_SKIPPED_SHOWN:
        console.print(f"  … and {len(skipped) - MAX_SKIPPED_SHOWN} more")


def _load_with_progress(
    name: str, root: Path | None, image_size: int, console: Console
) -> DatasetBundle:
    from engine.datasets.registry import load_dataset

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"loading {name}", total=None)

        def report(done: int, total: int, message: str) -> None:
            progress.update(task, completed=done, total=total, description=message)

        return load_dataset(name, root, image_size=image_size, progress=report)
