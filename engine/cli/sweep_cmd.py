"""`cnnlab sweep` (run a grid × seeds as one resumable sweep, or a search that learns) and
`cnnlab sweeps` (list them; `cnnlab sweeps SEARCH` shows a search's trials).

    cnnlab sweep --preset lab-conv --grid lr=1e-2,1e-3,1e-4 --grid batch-size=32,128 --seeds 3
    cnnlab sweep --search tpe --trials 20 --objective val_acc --val-fraction 0.2 \
                 --grid lr=1e-4..1e-1:log --grid batch-size=32,64,128

Typing the same command again resumes the sweep: points with a completed run are skipped,
interrupted or failed ones run again. Exit codes: 0 every point completed, 1 some did not,
2 a bad grid / flag / config, 130 interrupted with Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from engine.cli.cache_flag import add_cache_flag, use_cache_flag
from engine.errors import CnnlabError, ConfigError

EXIT_INCOMPLETE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def register(subparsers) -> None:
    """Add `sweep` and `sweeps`."""
    parser = subparsers.add_parser(
        "sweep",
        help="run a grid of settings × seeds as one resumable sweep",
        description="Expand --grid values × --seeds into runs, run them one after another "
        "(or one per GPU with --parallel), and group them as one sweep. Running the same "
        "command again resumes it. Grid keys are config fields (kebab or snake case) or "
        "model.<option>; list-valued options go in brackets: model.widths=[4,8],[8,16].",
    )
    from engine.cli.train_cmd import add_config_flags

    parser.add_argument("--preset", default=None, help="start from this preset")
    add_config_flags(parser)  # the same flags, parsed the same way, as `cnnlab train`
    parser.add_argument(
        "--grid", action="append", default=[], metavar="KEY=V1,V2",
        help="a swept field and its values (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--seeds", default="1",
        help="how many seeds (from --seed, default 0) or a list such as 0,1,2 (default 1)",
    )  # fmt: skip
    search = parser.add_argument_group(
        "search (Optuna): --grid KEY=LOW..HIGH[:log] ranges or KEY=V1,V2 lists"
    )
    search.add_argument(
        "--search", choices=("tpe", "random"), default=None,
        help="search the space instead of running every combination: tpe learns from the "
        "trials so far (Optuna's TPE sampler), random draws",
    )  # fmt: skip
    search.add_argument("--trials", type=int, default=10, help="trials to run (default 10)")
    search.add_argument(
        "--objective", default="val_acc",
        help="what a trial is judged by: val_acc, val_loss, test_psnr, … (default val_acc)",
    )  # fmt: skip
    search.add_argument(
        "--no-prune", action="store_true",
        help="never stop a trial early (default: the median rule at each epoch's end)",
    )  # fmt: skip
    parser.add_argument(
        "--parallel", type=int, default=1, metavar="N",
        help="runs at a time, one per CUDA device (needs several GPUs)",
    )  # fmt: skip
    parser.add_argument(
        "--runs-dir", type=Path, default=None, help="default: $CNNLAB_RUNS or ./runs"
    )
    parser.add_argument("--dry-run", action="store_true", help="show the plan and stop")
    add_cache_flag(parser)
    parser.add_argument(
        "--detach", action="store_true",
        help="queue the sweep in the background engine (started if needed) and return; its "
        "points fan out over the engine's free lanes (one per GPU, or --cpu-lanes)",
    )  # fmt: skip
    parser.set_defaults(func=run_sweep)

    listing = subparsers.add_parser(
        "sweeps", help="list sweeps and searches (a search's best trial), or show one search"
    )
    listing.add_argument("search_id", nargs="?", metavar="SEARCH", help="show this search")
    listing.add_argument("--runs-dir", type=Path, default=None)
    listing.set_defaults(func=run_list)


def build_spec_from_args(args: argparse.Namespace):
    """The SweepSpec the flags describe (ConfigError on anything malformed): the base config
    built as `cnnlab train` builds one, the grid's text parsed once, the seeds from --seed."""
    from engine.cli.train_cmd import flag_overrides
    from engine.presets import resolve_config
    from engine.sweeps import build_spec, parse_grid, parse_grid_arg, parse_seeds

    overrides = flag_overrides(args)
    base = resolve_config(args.preset, overrides)
    grid = parse_grid([parse_grid_arg(text) for text in args.grid], base.model)
    _refuse_twice(overrides, grid)
    return build_spec(base, grid, parse_seeds(args.seeds, base_seed=base.seed))


def build_search_from_args(args: argparse.Namespace):
    """The SearchSpec the flags describe (ConfigError on anything malformed)."""
    from engine.cli.train_cmd import flag_overrides
    from engine.presets import resolve_config
    from engine.sweeps.grid import parse_grid_arg, parse_space
    from engine.sweeps.search import build_search

    overrides = flag_overrides(args)
    base = resolve_config(args.preset, overrides)
    space = parse_space([parse_grid_arg(text) for text in args.grid], base.model)
    _refuse_twice(overrides, space)
    if str(args.seeds) != "1":
        raise ConfigError({"seeds": "a search trains each trial once, with --seed; drop --seeds"})
    if args.parallel != 1:
        raise ConfigError(
            {"parallel": "a search runs several trials at once on the engine's lanes: use "
             "--detach (and cnnlab engine start --devices / --cpu-lanes)"}
        )  # fmt: skip
    return build_search(
        base, space, trials=args.trials, objective=args.objective, sampler=args.search,
        prune=not args.no_prune,
    )  # fmt: skip


def _refuse_twice(overrides: dict[str, Any], grid: dict[str, Any]) -> None:
    """A key both set by a flag and swept is a mistake: say which flag to drop."""
    from engine.sweeps.grid import MODEL_PREFIX

    options = overrides.get("model_options") or {}
    for name in grid:
        option = name[len(MODEL_PREFIX) :] if name.startswith(MODEL_PREFIX) else None
        if option is None and name in overrides:
            flag = "--" + name.replace("_", "-")
            raise ConfigError({f"grid {name}": f"also set by {flag}; keep one of them"})
        if option is not None and option in options:
            raise ConfigError({f"grid {name}": f"also set by --model-opt {option}=…; keep one"})


def _print_errors(console: Console, exc: CnnlabError) -> None:
    if isinstance(exc, ConfigError) and exc.errors:
        console.print("[bold red]The sweep is not valid:[/]")
        for field, message in exc.errors.items():
            console.print(f"  [bold]{field}[/]: {message}")
    else:
        console.print(f"[bold red]error:[/] {exc}")


def run_sweep(args: argparse.Namespace) -> int:
    from engine.sweeps import SweepRunner

    console = Console(highlight=False)
    use_cache_flag(args)
    if args.detach:
        return _detach(console, args)
    if args.search:
        return run_search(console, args)
    try:
        spec = build_spec_from_args(args)
        runner = SweepRunner(spec, args.runs_dir, parallel=args.parallel)
        plan = runner.plan()
    except ConfigError as exc:
        _print_errors(console, exc)
        return EXIT_USAGE
    except CnnlabError as exc:
        _print_errors(console, exc)
        return EXIT_INCOMPLETE
    _print_plan(console, runner, plan, show_table=args.dry_run)
    if args.dry_run:
        return 0
    printer = SweepPrinter(console)
    runner.subscribe(printer)
    outcome: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: outcome.update(result=runner.run()), daemon=True)
    with printer:
        worker.start()
        try:
            while worker.is_alive():
                worker.join(timeout=0.2)
        except KeyboardInterrupt:
            console.print("[yellow]cancelling the sweep (the current run stops within a batch)…")
            runner.cancel()
            worker.join()
            return EXIT_INTERRUPTED
    result = outcome.get("result")
    if result is None:
        console.print("[bold red]the sweep stopped with an error; see the log above")
        return EXIT_INCOMPLETE
    _print_summary(console, runner)
    return 0 if result.status == "completed" else EXIT_INCOMPLETE


def _detach(console: Console, args: argparse.Namespace) -> int:
    """Queue the sweep in the engine of the runs folder and say how to follow it."""
    from engine.cli.engine_common import connect

    try:
        spec = build_search_from_args(args) if args.search else build_spec_from_args(args)
        sweep = spec.to_dict()
        _absolute_data_root(sweep["base"])
        with connect(args, console, start=True) as engine:
            submit = engine.submit_search if args.search else engine.submit_sweep
            entry = submit(sweep)
    except ConfigError as exc:
        _print_errors(console, exc)
        return EXIT_USAGE
    except CnnlabError as exc:
        _print_errors(console, exc)
        return EXIT_INCOMPLETE
    console.print(
        f"queued [bold]{entry['queue_id']}[/] on lane {entry.get('lane')}: {entry.get('label')}"
    )
    console.print(f"follow it: cnnlab watch {entry['queue_id']}    the queue: cnnlab queue")
    return 0


def _absolute_data_root(config: dict[str, Any]) -> None:
    """The engine may run in another folder: a relative data root means this one."""
    import os

    root = config.get("data_root")
    if isinstance(root, str) and root and not os.path.isabs(os.path.expanduser(root)):
        config["data_root"] = os.path.abspath(os.path.expanduser(root))


class SweepPrinter:
    """Prints one line per finished point and a live bar for the runs in progress."""

    def __init__(self, console: Console, metric: str | None = None):
        self.console = console
        self.metric = metric  # the metric each finished point shows (default: test's)
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(), console=console, transient=True,
        )  # fmt: skip
        self._tasks: dict[str, TaskID] = {}
        self._labels: dict[str, str] = {}

    def __enter__(self) -> SweepPrinter:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, event: object) -> None:
        from engine.events import BatchProgress, RunStarted
        from engine.sweeps import PointFinished, PointStarted, SweepFinished, SweepStarted

        if isinstance(event, SweepStarted) and event.parallel_note:
            self.console.print(f"[yellow]{event.parallel_note}")
        elif isinstance(event, PointStarted) and event.run_id:
            self._labels[event.run_id] = f"{event.label} seed={event.seed}"
        elif isinstance(event, RunStarted):
            label = self._labels.get(event.run_id, event.run_id)
            self._tasks[event.run_id] = self.progress.add_task(label, total=None, info="")
        elif isinstance(event, BatchProgress) and event.run_id in self._tasks:
            self.progress.update(
                self._tasks[event.run_id], total=event.num_batches, completed=event.batch,
                info=f"epoch {event.epoch} loss {event.loss:.4f}",
            )  # fmt: skip
        elif isinstance(event, PointFinished):
            self._point_finished(event)
        elif isinstance(event, SweepFinished):
            style = "green" if event.status == "completed" else "yellow"
            what = "trials finished" if event.sweep_id.startswith("search-") else "runs completed"
            self.console.print(
                f"[{style}]{event.sweep_id.split('-')[0]} {event.status}: {event.completed}/"
                f"{event.total} {what}" + (f", {event.failed} failed" if event.failed else "")
            )

    def _point_finished(self, event) -> None:
        from engine.report.content import metric_digits, metric_scale

        task = self._tasks.pop(event.run_id, None) if event.run_id else None
        if task is not None:
            self.progress.remove_task(task)
        label = self._labels.pop(event.run_id, None) or f"point {event.index}"
        metric = self.metric or ("test_psnr" if "test_psnr" in event.final else "test_acc")
        value = event.final.get(metric)
        shown = ""
        if isinstance(value, (int, float)):
            shown = f"{metric} {value * metric_scale(metric):.{metric_digits(metric)}f}"
        style = {"completed": "green", "pruned": "blue"}.get(event.status, "red")
        line = f"[{style}]{event.status:>9}[/] [{event.done}/{event.total}] {label} {shown}"
        if event.error:
            line += f"\n          [{'dim' if event.status == 'pruned' else 'red'}]{event.error}"
        self.console.print(line)


def _print_plan(console: Console, runner, plan, *, show_table: bool) -> None:
    todo = sum(item.needs_run for item in plan)
    settings = len({item.point.label for item in plan})
    seeds = len(runner.spec.seeds)
    console.print(
        f"[bold]{runner.sweep_id}[/]: {settings} setting(s) × {seeds} seed(s) = {len(plan)} "
        f"run(s); {len(plan) - todo} already completed, {todo} to run"
    )
    if not show_table:
        return
    table = Table("#", "setting", "seed", "latest run", "status", "action")
    for item in plan:
        action = "run" if item.needs_run else "skip"
        if item.needs_run and item.run_id:
            action = "run again"
        table.add_row(
            str(item.point.index), item.point.label, str(item.point.seed),
            item.run_id or "–", item.status, action,
        )  # fmt: skip
    console.print(table)


def _print_summary(console: Console, runner) -> None:
    from engine.report.content import format_metric, primary_metric, task_of
    from engine.runs import RunStore
    from engine.sweeps import aggregate_sweep, group_runs_by_sweep

    store = RunStore(runner.runs_dir)
    groups = [g for g in group_runs_by_sweep(store.list_runs()) if g.sweep_id == runner.sweep_id]
    if not groups:
        return
    metric = primary_metric(task_of(groups[0].records))
    table = Table(title=f"{runner.sweep_id}: mean ± std over seeds")
    for head in ("setting", "seeds", metric, "test_loss", "s/epoch"):
        table.add_column(head)
    for agg in aggregate_sweep(groups[0]):
        table.add_row(
            agg.label, str(len(agg.records)), format_metric(metric, agg.final.get(metric)),
            format_metric("test_loss", agg.final.get("test_loss")),
            format_metric("seconds_per_epoch", agg.final.get("seconds_per_epoch")),
        )  # fmt: skip
    console.print(table)
    console.print(f"report: cnnlab report {runner.sweep_id} --out report/{runner.sweep_id}")


def run_search(console: Console, args: argparse.Namespace) -> int:
    """A search in the foreground: trials one after another, the best one at the end."""
    from engine.sweeps.search_runner import SearchRunner

    try:
        spec = build_search_from_args(args)
    except ConfigError as exc:
        _print_errors(console, exc)
        return EXIT_USAGE
    runner = SearchRunner(spec, args.runs_dir)
    from engine.sweeps.search import space_text

    console.print(
        f"[bold]{spec.search_id}[/]: {spec.sampler} search of {space_text(spec.space)}, "
        f"{spec.trials} trials, {spec.direction} {spec.objective}"
        + ("" if spec.prune else ", no pruning")
    )
    if args.dry_run:
        return 0
    printer = SweepPrinter(console, metric=spec.objective)
    runner.subscribe(printer)
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["result"] = runner.run()
        except CnnlabError as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=work, daemon=True)
    with printer:
        worker.start()
        try:
            while worker.is_alive():
                worker.join(timeout=0.2)
        except KeyboardInterrupt:
            console.print("[yellow]cancelling the search (the trial stops within a batch)…")
            runner.cancel()
            worker.join()
            return EXIT_INTERRUPTED
    if "error" in outcome:
        _print_errors(console, outcome["error"])
        return EXIT_INCOMPLETE
    result = outcome.get("result")
    if result is None:
        console.print("[bold red]the search stopped with an error; see the log above")
        return EXIT_INCOMPLETE
    _print_search(console, runner.runs_dir, spec.search_id, importance=True)
    return 0 if result.status == "completed" else EXIT_INCOMPLETE


def _print_search(console: Console, runs_dir, search_id: str, *, importance: bool) -> None:
    """The trials table, the best trial and the settings' importance."""
    from engine.cli.runs_table import line_table
    from engine.runs import RunStore
    from engine.runs.describe import metric_text as format_metric
    from engine.runs.store import short_handles
    from engine.sweeps.search_results import read_search

    result = read_search(runs_dir, search_id, importance=importance)
    objective = result.spec.objective
    handles = short_handles(RunStore(runs_dir).list_runs())  # what `cnnlab show` accepts
    rows = [
        (str(row.number), row.state, format_metric(objective, row.value),
         _params_text(row.params), handles.get(row.run_id, row.run_id) if row.run_id else "–")
        for row in result.trials
    ]  # fmt: skip
    console.print(Text(search_id, style="bold"))
    headers = ("trial", "status", objective, "setting", "run")
    console.print(line_table(headers, rows, console.width))  # one line per trial
    console.print(f"{result.progress_text} done")
    if result.best is not None:
        best = result.best
        console.print(
            f"[bold green]best trial #{best.number}[/]: {objective} "
            f"{format_metric(objective, best.value)} with {_params_text(best.params)} "
            f"(run {best.run_id})"
        )
    if result.importance:
        shares = ", ".join(f"{key} {value:.2f}" for key, value in result.importance.items())
        console.print(f"parameter importance: {shares}")
    elif importance and result.importance_note:
        console.print(f"[dim]{result.importance_note}[/]")


def _params_text(params: dict[str, Any]) -> str:
    from engine.trainer.config import format_value

    return " ".join(
        f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={format_value(value)}"
        for key, value in params.items()
    )


def run_list(args: argparse.Namespace) -> int:
    from engine.runs import RunStore
    from engine.sweeps import list_sweeps, setting_label, sweep_progress

    store = RunStore(args.runs_dir)
    console = Console(highlight=False)
    if args.search_id:
        _print_search(console, store.root, _search_named(store.root, args.search_id),
                      importance=True)  # fmt: skip
        return 0
    states = list_sweeps(store.root)
    searches = _search_rows(store.root)
    if not states and not searches:
        print(f"no sweeps in {store.root}", file=sys.stderr)
        return 0
    from engine.cli.runs_table import line_table

    headers = ("search", "preset", "space", "objective", "progress", "best trial")
    if searches:  # one line each at the terminal's width, long cells cut with '…'
        console.print(line_table(headers, searches, console.width))
    if not states:
        return 0
    rows = []
    for state in states:
        grid = setting_label(state.spec.grid) if state.spec.grid else "–"
        progress = sweep_progress(store, state.sweep_id)
        rows.append((
            state.sweep_id, state.spec.preset or "–", grid,
            ",".join(str(s) for s in state.spec.seeds), progress.text,
        ))  # fmt: skip
    if searches:
        console.print()
    console.print(line_table(("sweep", "preset", "grid", "seeds", "progress"), rows, console.width))
    return 0


def _search_named(runs_dir, ref: str) -> str:
    from engine.errors import RunStoreError
    from engine.sweeps.search import list_searches

    ids = [s.search_id for s in list_searches(runs_dir)]
    matches = [i for i in ids if i == ref] or [i for i in ids if i.startswith(ref)]
    if len(matches) != 1:
        found = f"{len(matches)} match" if matches else "none matches"
        raise RunStoreError(f"no single search {ref!r} in {runs_dir} ({found})")
    return matches[0]


def _search_rows(runs_dir) -> list[tuple[str, ...]]:
    """One row per search: id, preset, space, objective, progress, best trial."""
    from engine.runs.describe import metric_text as format_metric
    from engine.sweeps.search import list_searches, space_text
    from engine.sweeps.search_results import read_search

    rows = []
    for saved in list_searches(runs_dir):
        spec = saved.spec
        try:
            result = read_search(runs_dir, saved.search_id)
        except CnnlabError as exc:
            rows.append((saved.search_id, spec.preset or "–", space_text(spec.space),
                         spec.objective, "unreadable", str(exc)))  # fmt: skip
            continue
        best = "–"
        if result.best is not None:
            value = format_metric(spec.objective, result.best.value)
            best = f"#{result.best.number} {value} {_params_text(result.best.params)}"
        rows.append((saved.search_id, spec.preset or "–", space_text(spec.space),
                     f"{spec.direction} {spec.objective}", result.progress_text, best))  # fmt: skip
    return rows
