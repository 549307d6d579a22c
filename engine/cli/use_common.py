"""What the commands that use a trained run share: their common flags, loading the run
with a progress line, and printing the facts a loaded run says must be stated."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


def add_run_flags(parser: argparse.ArgumentParser, *, device: bool = True) -> None:
    """RUN, --checkpoint, --device (unless the command fixes it) and --runs-dir."""
    parser.add_argument(
        "run",
        metavar="RUN",
        help="run id, name, short id, unique part of an id, folder or 'latest'",
    )
    parser.add_argument(
        "--checkpoint",
        choices=("best", "last"),
        default="best",
        help="best: the epoch with the best validation (else test) score; last: the final "
        "epoch, whose test figures the run reports (default best)",
    )
    if device:
        parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    parser.add_argument("--runs-dir", help="runs folder (default $CNNLAB_RUNS or ./runs)")


def error_console() -> Console:
    """Progress and notes go to stderr, so `--json` output stays clean on stdout."""
    return Console(stderr=True, highlight=False)


@contextmanager
def progress_bar(console: Console, what: str) -> Iterator[Callable[..., None]]:
    """A transient bar; yields `report(done, total, message="")`."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(what, total=None)

        def report(done: int, total: int, message: str = "") -> None:
            progress.update(task, completed=done, total=total or None, description=message or what)

        yield report


def load(args: argparse.Namespace, console: Console, device: str | None = None):
    """The run named on the command line, loaded for use (decoding progress shown)."""
    from engine.use.loading import load_run

    with progress_bar(console, f"loading {args.run}") as report:
        return load_run(
            args.run,
            args.runs_dir,
            checkpoint=args.checkpoint,
            device=device or getattr(args, "device", "auto"),
            progress=report,
        )


def print_notes(console: Console, notes: list[str]) -> None:
    for note in dict.fromkeys(notes):  # once each, in order
        console.print(f"[yellow]note:[/] {note}")
