"""`cnnlab evaluate RUN [--data-root DIR] [--split test|all]`: score a trained run on its
own data or on another folder of the same task, and keep the result in the run folder
(`evaluations/<time>-<name>.json`). Exit 1 for a run or folder that cannot be used."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from engine.cli.use_common import add_run_flags, error_console, load, print_notes, progress_bar


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score a trained run on its own data or another folder (kept in the run)",
        description="Score a trained run with its own evaluation pass. --data-root names "
        "another folder of the same task (class folders matched to the run's classes by "
        "name, or hazy/clear pairs); without it the run's own data set is used.",
    )
    add_run_flags(parser)
    parser.add_argument(
        "--data-root",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder to score on (default: the run's own data)",
    )
    parser.add_argument(
        "--split",
        choices=("test", "all"),
        default="test",
        help="test: the split the run's loader would hold out; all: every image (default test)",
    )
    parser.add_argument("--json", action="store_true", help="print the record as JSON")
    parser.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from engine.runs import RunStore
    from engine.use.evaluate import evaluate_run, save_evaluation
    from engine.use.run_folder import writable_run_dir

    notes_out = error_console()
    run_dir = writable_run_dir(RunStore(args.runs_dir), args.run)  # the record goes there
    args.run = str(run_dir)
    loaded = load(args, notes_out)
    with progress_bar(notes_out, "reading the images") as report:
        record = evaluate_run(loaded, data_root=args.data_root, split=args.split, progress=report)
    path = save_evaluation(run_dir, record)
    if args.json:
        print(json.dumps({**record, "file": str(path)}, indent=2))
    else:
        print_evaluation(Console(highlight=False), record, loaded)
        Console(highlight=False).print(f"saved [bold]{path}[/]")
    print_notes(notes_out, record["notes"])
    return 0


def print_evaluation(console: Console, record: dict, loaded) -> None:
    from engine.runs.describe import metric_text

    metrics = record["metrics"]
    console.print(
        f"[bold]{loaded.describe()}[/] on {record['source']} ({record['split']}): "
        f"{record['num_images']} images"
    )
    rows = loaded.record.metrics
    final = rows[-1] if rows else (loaded.record.summary.get("final") or {})
    table = Table(box=None, header_style="bold")
    for name in ("metric", "this evaluation", "run's final test"):
        table.add_column(name, justify="right" if name != "metric" else "left")
    for key in ("acc", "balanced_acc", "loss", "psnr", "ssim"):
        if metrics.get(key) is not None:
            recorded = final.get(f"test_{key}")
            reference = metric_text(f"test_{key}", recorded) if recorded is not None else "—"
            table.add_row(key, metric_text(f"test_{key}", metrics[key]), reference)
    console.print(table)
    if metrics.get("confusion"):
        _print_confusion(console, record, metrics)
    if record.get("classes_missing"):
        console.print(f"classes without images here: {', '.join(record['classes_missing'])}")
    if record.get("skipped_count"):
        console.print(f"[yellow]{record['skipped_count']} file(s) skipped[/]")
        for item in record["skipped"]:
            console.print(f"  {item['path']}: {item['reason']}")


def _print_confusion(console: Console, record: dict, metrics: dict) -> None:
    from engine.runs.describe import metric_text

    classes = record["classes"]
    table = Table(title="confusion (rows: true class, columns: predicted)", title_justify="left")
    table.add_column("class")
    for name in classes:
        table.add_column(name, justify="right")
    table.add_column("accuracy", justify="right")
    for name, counts, acc in zip(
        classes, metrics["confusion"], metrics["per_class_acc"], strict=True
    ):
        table.add_row(name, *[str(c) for c in counts], metric_text("test_acc", acc))
    console.print(table)
