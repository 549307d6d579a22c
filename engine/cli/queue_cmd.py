"""`cnnlab queue [list | cancel ID | move ID up|down|top|bottom]`: the engine's queue.

    cnnlab queue                 # what runs and what waits, with each entry's lane
    cnnlab queue cancel q4       # drop a waiting entry, or cancel a running one
    cnnlab queue move q5 top     # change the order of the waiting ones

IDs are queue ids (q4) or run ids (or a unique part) of running entries. `cnnlab queue`
starts the engine when none runs, so queued entries left from an engine that stopped get
going again.
"""

from __future__ import annotations

import argparse

from rich.console import Console

from engine.cli.engine_common import add_runs_dir, age_text, connect, progress_text
from engine.service.queue_store import MOVES


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "queue",
        help="list, cancel or reorder the background engine's queue",
        description=__doc__.split("\n\n")[0].split(": ", 1)[1],
    )
    add_runs_dir(parser)
    actions = parser.add_subparsers(dest="queue_action", metavar="ACTION")
    listing = actions.add_parser("list", help="running and queued entries (the default)")
    add_runs_dir(listing, sub=True)
    cancel = actions.add_parser("cancel", help="remove a queued entry or cancel a running one")
    cancel.add_argument("ref", metavar="ID", help="queue id (q4) or run id")
    add_runs_dir(cancel, sub=True)
    move = actions.add_parser("move", help="move a queued entry")
    move.add_argument("ref", metavar="ID", help="queue id (q4)")
    move.add_argument("where", choices=MOVES, help="one place up or down, or to the top/bottom")
    add_runs_dir(move, sub=True)
    parser.set_defaults(func=run_queue)


def run_queue(args: argparse.Namespace) -> int:
    console = Console(highlight=False)
    with connect(args, console, start=True) as engine:
        action = getattr(args, "queue_action", None) or "list"
        if action == "cancel":
            return _cancel(console, engine, args.ref)
        if action == "move":
            position = engine.move(args.ref, args.where)
            console.print(f"{args.ref} is now #{position} in the queue")
            return 0
        print_queue(console, engine.entries())
    return 0


def _cancel(console: Console, engine, ref: str) -> int:
    result = engine.cancel(ref)
    queue_id = result["queue_id"]
    if result["was"] == "queued":
        console.print(f"removed {queue_id} from the queue")
    else:
        console.print(
            f"cancelling {queue_id} after this batch; finished epochs are kept (resume: "
            "cnnlab train --resume RUN --epochs N --detach)"
        )
    return 0


def print_queue(console: Console, entries: list[dict]) -> None:
    from rich.table import Table

    if not entries:
        console.print("the queue is empty and nothing is running")
        return
    table = Table(box=None, pad_edge=False)
    for name in ("id", "state", "lane", "what", "run", "progress", "queued"):
        table.add_column(name)
    for view in entries:
        style = {"running": "green", "stopping": "yellow"}.get(view.get("state"), "")
        table.add_row(
            view["queue_id"],
            f"[{style}]{view.get('state')}[/]" if style else str(view.get("state")),
            str(view.get("lane") or "—"),
            str(view.get("label") or view.get("kind")),
            str(view.get("run_id") or "—"),
            progress_text(view),
            age_text(view.get("submitted_at")) + " ago",
        )
        runs = view.get("runs") or []
        for run in runs if len(runs) > 1 else []:  # a sweep training on several lanes
            done = f"epoch {run.get('epoch', 0)}/{run.get('epochs')} done"
            table.add_row("", "", str(run.get("lane") or "—"), "  ↳", run["run_id"], done, "")
    console.print(table)
