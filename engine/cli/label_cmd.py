"""`cnnlab label RUN …`: name, annotate and tag a run (stored in its labels.json).

A name becomes the run's handle: `show`, `compare`, `report`, `train --resume` and the
other commands accept it wherever a run id is asked for.
"""

from __future__ import annotations

import argparse
import dataclasses


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "label",
        help="name, annotate or tag a run (a name works wherever a run id does)",
        description="Without options, print the run's labels. Names: letters, digits, - _ . "
        "(at most 40), unique among the runs; tags: words, comma-separated or repeated.",
    )
    parser.add_argument("run", help="run id, name, short id, unique part of an id, or 'latest'")
    name = parser.add_mutually_exclusive_group()
    name.add_argument("--name", help="a short unique name for the run")
    name.add_argument("--clear-name", action="store_true", help="remove the run's name")
    parser.add_argument("--note", help="free text about the run ('' removes it)")
    parser.add_argument(
        "--tag", action="append", default=[], metavar="TAG", help="add tags (repeatable)"
    )
    parser.add_argument(
        "--untag", action="append", default=[], metavar="TAG", help="remove tags (repeatable)"
    )
    parser.add_argument("--clear-tags", action="store_true", help="remove every tag")
    parser.add_argument("--runs-dir", help="runs folder (default $CNNLAB_RUNS or ./runs)")
    parser.set_defaults(func=cmd_label)


def cmd_label(args: argparse.Namespace) -> int:
    """Change the labels named on the command line, keep the others, print the result."""
    from rich.console import Console
    from rich.text import Text

    from engine.runs import RunStore
    from engine.runs.labels import parse_tags, read_labels

    store = RunStore(args.runs_dir)
    console = Console(highlight=False)
    changing = (
        args.name is not None
        or args.clear_name
        or args.note is not None
        or args.tag
        or args.untag
        or args.clear_tags
    )
    try:
        path = store.run_folder(args.run) if changing else store.resolve(args.run)
        labels = read_labels(path)
        if changing:
            added, removed = parse_tags(args.tag), {t.lower() for t in parse_tags(args.untag)}
            tags = () if args.clear_tags else labels.tags
            tags = tuple(t for t in tags + added if t.lower() not in removed)
            labels = dataclasses.replace(
                labels,
                name="" if args.clear_name else (labels.name if args.name is None else args.name),
                note=labels.note if args.note is None else args.note,
                tags=tags,
            )
            labels = store.set_labels(path.name, labels)
    except ValueError as exc:  # a bad name or tag, an unknown run (RunStoreError is one too)
        Console(stderr=True, highlight=False).print(Text("error: ", style="red") + Text(str(exc)))
        return 1
    console.print(Text(f"run   {path.name}"))
    console.print(Text(f"name  {labels.name or '—'}"))
    console.print(Text(f"note  {labels.note or '—'}"))
    console.print(Text(f"tags  {', '.join(labels.tags) or '—'}"))
    return 0
