"""`cnnlab tensorboard RUN… --out DIR`: runs (or whole sweeps) as TensorBoard event files,
one folder per run; then `tensorboard --logdir DIR` shows them."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "tensorboard",
        help="write runs as TensorBoard event files",
        description="Write each run's per-epoch metrics, per-batch training loss, "
        "hyper-parameters and pictures as TensorBoard event files under DIR/<run id> "
        "(needs the tensorboard package: pip install 'cnnlab[tensorboard]').",
    )
    parser.add_argument("targets", nargs="+", metavar="RUN", help="run ids, sweep ids, folders")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    parser.add_argument("--runs-dir", help="runs folder (default $CNNLAB_RUNS or ./runs)")
    parser.set_defaults(func=cmd_tensorboard)


def cmd_tensorboard(args: argparse.Namespace) -> int:
    from engine.runs import RunStore
    from engine.sweeps import resolve_targets
    from engine.use.tensorboard import write_tensorboard

    console = Console(highlight=False)
    records = resolve_targets(RunStore(args.runs_dir), args.targets)
    with console.status(f"writing {len(records)} run(s)…"):
        written = write_tensorboard(records, args.out)
    for run in written:
        console.print(
            f"{run.run_id}: {run.scalars} epoch values, {run.batch_points} batch points, "
            f"{run.images} pictures → {run.folder}"
        )
        for note in run.notes:
            console.print(f"  [yellow]note:[/] {note}")
    console.print(f"open them with: [bold]tensorboard --logdir {args.out}[/]")
    return 0
