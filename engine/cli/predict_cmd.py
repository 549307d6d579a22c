"""`cnnlab predict RUN INPUT…`: a trained run applied to image files or folders.

Classification prints each image's top-k classes with probabilities (a table, or JSON with
`--json`); dehazing writes each dehazed image at the input's size into `--out` and prints
where. Skipped inputs are listed with their reasons. Exit 1 when no input was usable.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from engine.cli.use_common import add_run_flags, error_console, load, print_notes, progress_bar


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="classify or dehaze your own images with a trained run",
        description="Apply a trained run to image files or folders, with exactly the run's "
        "preprocessing (image size, resize mode, normalisation, TTA).",
    )
    add_run_flags(parser)
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    parser.add_argument("--top-k", type=int, default=3, metavar="K", help="classes per image")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="dehazing: folder for the dehazed images (default ./dehazed; inputs are never "
        "overwritten)",
    )
    parser.add_argument(
        "--scale",
        choices=("trained", "native"),
        default="trained",
        help="dehazing: run the net at the run's image size and resize the result back "
        "(trained, the run's own preprocessing) or on the full image (native)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> int:
    from engine.use.predict import predict

    notes_out = error_console()
    loaded = load(args, notes_out)
    with progress_bar(notes_out, "predicting") as report:
        result = predict(
            loaded,
            args.inputs,
            top_k=args.top_k,
            out_dir=args.out,
            scale=args.scale,
            progress=lambda done, total: report(done, total, "predicting"),
        )
    usable = len(result.predictions) + len(result.dehazed)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        _print(Console(highlight=False), result)
    print_notes(notes_out, result.notes)
    return 0 if usable else 1


def _print(console: Console, result) -> None:
    console.print(f"[bold]{result.run}[/] · inputs: {result.preprocessing}")
    if result.predictions:
        table = Table(box=None, header_style="bold")
        table.add_column("image", overflow="fold")
        width = len(result.predictions[0].top)
        for rank in range(1, width + 1):
            table.add_column("class" if rank == 1 else f"#{rank}", overflow="fold")
        for item in result.predictions:
            cells = [f"{name} {100 * p:.1f} %" for name, p in item.top]
            cells[0] = f"[bold]{cells[0]}[/]"
            table.add_row(item.path, *cells)
        console.print(table)
    for item in result.dehazed:
        console.print(f"{item.source} → [bold]{item.output}[/] ({item.width}×{item.height})")
    for path, reason in result.skipped:
        console.print(f"[yellow]skipped[/] {path}: {reason}")
    if not (result.predictions or result.dehazed):
        console.print("[red]no usable image among the inputs[/]")
