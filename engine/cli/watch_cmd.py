"""`cnnlab watch [RUN | QUEUE_ID]`: follow a run the engine trains, as a foreground
`cnnlab train` shows it — the epochs so far first, then the progress bar and each new epoch.

Without an argument it follows the running entry (the first, when several lanes are busy),
else the first queued one. Ctrl-C stops watching, never the training. A run the engine is
not training is shown from its folder. Exit codes follow the run's outcome: 0 completed,
1 failed or diverged, 75 interrupted (resumable), 130 cancelled or stopped watching.
"""

from __future__ import annotations

import argparse

from rich.console import Console

from engine.cli.engine_common import OUTCOME_CODES, add_runs_dir, connect
from engine.errors import CnnlabError

EXIT_STOPPED_WATCHING = 130
EXIT_ENGINE_GONE = 1


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "watch",
        help="follow a run the background engine trains (Ctrl-C stops watching only)",
        description=__doc__.split("\n\n")[0].split(": ", 1)[1],
    )
    parser.add_argument("ref", nargs="?", metavar="RUN|QUEUE_ID", help="default: what runs now")
    parser.add_argument("--quiet", action="store_true", help="no progress bar, only the table")
    add_runs_dir(parser)
    parser.set_defaults(func=run_watch)


def run_watch(args: argparse.Namespace) -> int:
    from engine.service.client import EngineError, EngineNotRunning

    console = Console(highlight=False)
    try:
        engine = connect(args, console, start=False)
    except EngineNotRunning as exc:
        if exc.notice:
            console.print(f"[yellow]{exc.notice}[/]")
        if args.ref:
            return show_from_store(console, args)
        console.print("no engine is running, so nothing to watch (cnnlab runs lists runs)")
        return 0
    with engine:
        try:
            subscription = engine.subscribe(args.ref)
        except EngineError as exc:
            if args.ref and "no queued or running entry" in str(exc):
                return show_from_store(console, args)
            raise
    return Watcher(console, args.quiet).follow(subscription, args.ref)


class Watcher:
    """Prints one entry's updates with the foreground train's printer."""

    def __init__(self, console: Console, quiet: bool) -> None:
        from engine.cli.train_cmd import TrainPrinter

        self.console = console
        self.printer = TrainPrinter(console, quiet)
        self.target: str | None = None
        self._waiting_said = False

    def follow(self, subscription, ref: str | None) -> int:
        from engine.service.client import EngineDisconnected

        self.target = subscription.queue_id
        try:
            with subscription:
                for update in subscription:
                    code = self._handle(update)
                    if code is not None:
                        return code
        except KeyboardInterrupt:
            self.printer.close()
            where = self.target or ref or ""
            self.console.print(
                f"stopped watching; {where or 'the run'} keeps training in the engine "
                f"(cnnlab watch {where})".replace("  ", " ")
            )
            return EXIT_STOPPED_WATCHING
        except EngineDisconnected as exc:
            self.printer.close()
            self.console.print(f"[red]{exc}[/]")
            return EXIT_ENGINE_GONE
        finally:
            self.printer.close()
        self.console.print("[red]the engine closed the connection[/]")
        return EXIT_ENGINE_GONE

    def _handle(self, update) -> int | None:
        from engine.service.events import EngineStopping, EntryFinished, QueueState

        event = update.event
        if isinstance(event, QueueState):
            return self._queue_state(event)
        if isinstance(event, EngineStopping):
            self.console.print(f"[yellow]the engine is stopping ({event.reason})[/]")
            return None
        if update.queue_id is None or update.queue_id != self.target:
            return None
        if isinstance(event, EntryFinished):
            return self._finished(event)
        self.printer.handle(event)
        return None

    def _queue_state(self, state) -> int | None:
        entries = state.entries
        if self.target is None:
            running = [e for e in entries if e.get("state") != "queued"]
            chosen = (running or entries or [None])[0]
            if chosen is None:
                self.console.print("nothing is running or queued in the engine")
                return 0
            self.target = chosen["queue_id"]
        view = next((e for e in entries if e["queue_id"] == self.target), None)
        if view is not None and view.get("state") == "queued" and not self._waiting_said:
            self._waiting_said = True
            self.console.print(
                f"{self.target} waits in the queue (#{view.get('position')} for lane "
                f"{view.get('lane')}): {view.get('label')}"
            )
        return None

    def _finished(self, event) -> int:
        self.printer.close()
        style = "green" if event.status == "completed" else "yellow"
        reason = f": {event.error}" if event.error else ""
        runs = f" ({', '.join(event.run_ids)})" if event.run_ids else ""
        self.console.print(f"[{style}]{self.target} {event.status}[/]{runs}{reason}")
        if event.status in ("interrupted", "cancelled") and event.run_ids:
            self.console.print(
                f"resume: cnnlab train --resume {event.run_ids[-1]} --epochs N --detach"
            )
        return OUTCOME_CODES.get(event.status, 1)


def show_from_store(console: Console, args: argparse.Namespace) -> int:
    """A run the engine is not training (a run id, or the queue id of an entry that left
    the queue): its epochs and status from its folder."""
    from engine.cli.engine_common import runs_dir_of
    from engine.cli.train_cmd import TrainPrinter
    from engine.runs import RunStore
    from engine.service.client import recorded_entry

    ref = args.ref
    entry = recorded_entry(runs_dir_of(args), ref)
    if entry is not None and entry.get("run_ids"):
        ref = entry["run_ids"][-1]
        console.print(f"{args.ref} has left the engine's queue: it made run {ref}")
    try:
        record = RunStore(runs_dir_of(args)).get(ref)
    except CnnlabError:
        console.print(f"[red]no run or queue entry {args.ref!r}[/] (cnnlab queue, cnnlab runs)")
        return 1
    printer = TrainPrinter(console, quiet=True)
    printer.task, printer.epochs = record.task or "classify", int(record.summary.get("epochs") or 0)
    console.print(f"[bold]{record.run_id}[/] (not in the engine: from its folder)")
    for row in record.metrics:
        printer.epoch_row(row)
    error = record.summary.get("error")
    console.print(f"{record.run_id} {record.status}" + (f": {error}" if error else ""))
    return OUTCOME_CODES.get(record.status, 1)
