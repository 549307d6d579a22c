"""`cnnlab runs`, `cnnlab show RUN` and `cnnlab compare RUN RUN…`: reading the run store.

The numbers come from `engine.runs` (the same pure functions the dashboard uses); this
module only lays them out with rich tables and plotext curves.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

WIDE_LIMIT = 10_000  # `runs --wide`: lines as long as the columns need, never wrapped
_STAMP = re.compile(r"^\d{8}-\d{6}-")
_MARKERS = ("*", "+", "x", "o", "#", "@", "%", "&")
_METRIC_PREFIXES = ("test_", "train_", "val_", "seconds")


def register(subparsers) -> None:
    runs = subparsers.add_parser("runs", help="list saved runs (newest first)")
    runs.add_argument("--status", help="only runs with this status")
    runs.add_argument("--limit", type=int, default=None, help="show at most N runs")
    runs.add_argument(
        "--tag", action="append", default=[], metavar="TAG", help="only runs with this tag"
    )
    runs.add_argument(
        "--search",
        metavar="TEXT",
        help="only runs whose id, name, note, tags, data set or model contain TEXT",
    )
    runs.add_argument(
        "--wide", action="store_true", help="every column (full id, options, lr, note…)"
    )
    runs_format = runs.add_mutually_exclusive_group()
    runs_format.add_argument("--csv", action="store_true", help="print the runs as CSV")
    runs_format.add_argument("--json", action="store_true", help="print the runs as JSON")
    runs.set_defaults(func=cmd_runs)

    show = subparsers.add_parser("show", help="one run: summary, epochs, per-class results")
    show.add_argument(
        "run", help="run id, name, short id, unique part of an id, folder, or 'latest'"
    )
    show.set_defaults(func=cmd_show)

    compare = subparsers.add_parser("compare", help="overlay curves and diff configs of runs")
    compare.add_argument("runs", nargs="+", metavar="RUN", help="runs to compare (2 or more)")
    compare.add_argument("--metric", help="curve to plot (default test_acc or test_psnr)")
    compare.add_argument("--width", type=int, default=None, help="plot width in characters")
    compare.add_argument("--height", type=int, default=18, help="plot height in lines")
    compare.set_defaults(func=cmd_compare)
    for parser in (runs, show, compare):
        parser.add_argument("--runs-dir", help="runs folder (default $CNNLAB_RUNS or ./runs)")


def _console():
    from rich.console import Console

    return Console(highlight=False)


def _status(status: str):
    from rich.text import Text

    from engine.cli.runs_table import STATUS_STYLE

    return Text(str(status), style=STATUS_STYLE.get(status, "white"))


def _plain(value: Any):
    """A cell shown as it is: text from run files is never read as rich markup."""
    from rich.text import Text

    return value if isinstance(value, Text) else Text(str(value))


def _records(store, refs: list[str]) -> list[Any]:
    return [store.get(ref) for ref in refs]


def _guard(fn):
    """Print a run-store error (unknown or ambiguous run) without a traceback; exit 1."""

    def wrapper(args: argparse.Namespace) -> int:
        from engine.errors import CnnlabError

        try:
            return fn(args)
        except CnnlabError as exc:
            _console().print("[red]error:[/]", _plain(exc))
            return 1

    wrapper.__doc__ = fn.__doc__
    return wrapper


@_guard
def cmd_runs(args: argparse.Namespace) -> int:
    """One line per run at the terminal's width (`--wide`: every column; `--csv`/`--json`)."""
    from engine.cli.runs_table import matches, runs_table
    from engine.runs import RunStore
    from engine.runs.store import short_handles

    store = RunStore(args.runs_dir)
    every = store.list_runs()
    handles = short_handles(every)  # unique among all runs, not only the ones shown
    records = [
        r
        for r in every
        if (not args.status or r.status == args.status)
        and matches(r, tags=args.tag, search=args.search)
    ]
    records = records[: args.limit] if args.limit else records
    if args.csv or args.json:
        from engine.cli.runs_export import write_csv, write_json

        (write_csv if args.csv else write_json)(records, handles=handles)
        return 0
    console = _console()
    if not records:
        console.print(_plain(f"no runs in {store.root}" + (" match" if every else "")))
        return 0
    if args.wide:
        from rich.console import Console

        console = Console(highlight=False, width=WIDE_LIMIT, force_terminal=console.is_terminal)
    console.print(runs_table(records, handles, console.width, wide=args.wide))
    return 0


@_guard
def cmd_show(args: argparse.Namespace) -> int:
    """Everything about one run."""
    from engine.runs import RunStore

    record = RunStore(args.runs_dir).get(args.run)
    console = _console()
    _print_overview(console, record)
    for warning in record.warnings:
        console.print("[yellow]warning:[/]", _plain(warning))
    if record.metrics:
        table, left_out = _epochs_table(record, console.width)
        console.print(table)
        if left_out:
            console.print(
                _plain(
                    f"not shown at this width: {', '.join(left_out)} "
                    "(a wider terminal shows them; metrics.jsonl has all)"
                )
            )
    if record.summary.get("confusion"):
        console.print(_confusion_table(record.summary, console.width))
    for sample in record.summary.get("samples") or []:
        console.print(_plain(f"sample: {record.path / sample}"))
    from engine.cli.use_show import print_use

    print_use(console, record)
    return 0


def _print_overview(console, record) -> None:
    from rich.table import Table

    from engine.runs.describe import duration_text, format_value, metric_text, model_text

    s, config = record.summary, record.config
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="ellipsis")  # wraps between words; a word too long is cut
    labels, title = record.labels, str(config.get("name") or s.get("name") or "")
    rows = [
        ("run", record.run_id),
        ("name", f"{labels.name} ({title})" if labels.name and title else labels.name or title),
        ("tags", ", ".join(labels.tags)),
        ("note", labels.note),
        ("status", _status(record.status)),
        ("problem", record.damaged or s.get("error") or ""),
        ("folder", str(record.path)),
        ("data", f"{s.get('dataset') or config.get('dataset')} ({s.get('task') or '?'})"),
        ("model", model_text(s, config)),
        ("parameters", format_value(s.get("params"))),
        ("device", f"{s.get('device') or '—'} · torch {s.get('torch_version') or '?'}"),
        ("epochs", f"{s.get('epochs_completed', 0)} of {s.get('epochs') or '?'}"),
        (
            "train time",
            f"{duration_text(s.get('train_seconds'))} · "
            f"{format_value(s.get('images_per_second'))} img/s",
        ),
    ]
    for label in ("best", "final"):
        values = s.get(label) or {}
        text = " · ".join(f"{k} {metric_text(k, v)}" for k, v in values.items() if k != "epoch")
        if values.get("epoch"):
            text = f"epoch {values['epoch']}: {text}"
        rows.append((label, text or "—"))
    settings = {
        k: v for k, v in config.items() if k not in ("model", "dataset", "model_options", "name")
    }
    shown = {k: v for k, v in settings.items() if v not in (None, "")}
    rows.append(("config", " ".join(f"{k}={format_value(v)}" for k, v in shown.items())))
    for label, value in rows:
        if value and value != "—":
            table.add_row(label, _plain(value))
    console.print(table)


def _epochs_table(record, width: int):
    """The per-epoch table with as many metric columns as fit `width`, and the rest's names."""
    from rich import box
    from rich.table import Table

    from engine.runs.compare import curve_metrics
    from engine.runs.describe import metric_text

    names = ["epoch"] + [m for m in curve_metrics([record]) if m != "lr"]
    cells = {
        c: [
            str(r.get("epoch")) if c == "epoch" else metric_text(c, r.get(c))
            for r in record.metrics
        ]
        for c in names
    }
    columns, used = [], 0
    for name in names:
        need = max(len(name), *(len(v) for v in cells[name])) + 3  # padding and divider
        if columns and used + need > width:
            continue
        columns.append(name)
        used += need
    table = Table(title="epochs", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
    for name in columns:
        table.add_column(name, justify="right", no_wrap=True, overflow="ellipsis")
    for index in range(len(record.metrics)):
        table.add_row(*[cells[c][index] for c in columns])
    return table, [n for n in names if n not in columns]


def _confusion_table(summary: dict[str, Any], width: int):
    """Counts by true class (rows) and predicted class (columns). When the class names do not
    fit as headers, the columns are numbered and the rows say which number is which."""
    from rich.table import Table

    from engine.runs.describe import metric_text

    classes = summary.get("classes") or [str(i) for i in range(len(summary["confusion"]))]
    per_class = summary.get("per_class_acc") or [None] * len(classes)
    counts = [str(c) for row in summary["confusion"] for c in row]
    digits = max([len(c) for c in counts] + [1])
    label_width = max([len(str(n)) for n in classes] + [5])
    natural = label_width + sum(max(len(str(n)), digits) + 3 for n in classes) + 12
    numbered = natural > width
    headers = [str(i) for i in range(len(classes))] if numbered else [str(n) for n in classes]
    labels = [f"{i} {n}" for i, n in enumerate(classes)] if numbered else list(classes)
    table = Table(title="confusion (rows: true class, columns: predicted)", title_justify="left")
    table.add_column("class", no_wrap=True, overflow="ellipsis")
    for header in headers:
        table.add_column(_plain(header), justify="right", no_wrap=True, overflow="ellipsis")
    table.add_column("accuracy", justify="right", no_wrap=True)
    for name, row, acc in zip(labels, summary["confusion"], per_class, strict=False):
        table.add_row(_plain(name), *[str(c) for c in row], metric_text("test_acc", acc))
    return table


@_guard
def cmd_compare(args: argparse.Namespace) -> int:
    """Curves overlaid, then the config fields that differ, then final metrics."""
    from engine.runs import RunStore
    from engine.runs.compare import default_metric, differing_fields, final_metrics

    store = RunStore(args.runs_dir)
    records = _records(store, args.runs)
    console = _console()
    labels = [_label(i, r) for i, r in enumerate(records)]
    metric = args.metric or default_metric(records)
    width = args.width or console.width
    console.print(_plot(records, labels, metric, width, args.height, console.is_terminal))
    diff = differing_fields(records)
    if diff:
        console.print(_side_by_side("config fields that differ", labels, diff))
    else:
        console.print("configs are identical (apart from names)")
    console.print(_side_by_side("final metrics", labels, final_metrics(records)))
    return 0


def _label(index: int, record) -> str:
    """'1:my-name' (the run's name) or '1:conv-shapes-d94e' (the id without its timestamp)."""
    name = record.labels.name or record.summary.get("name") or _STAMP.sub("", record.run_id)
    return f"{index + 1}:{name}"


def _plot(records, labels, metric: str, width: int, height: int, color: bool):
    """The metric's curve of every run on one plotext canvas, as rich Text.

    With colour, runs differ by colour; without (pipes, logs), by marker character.
    """
    import plotext as plt
    from rich.text import Text

    from engine.runs.compare import metric_series

    plt.clear_figure()
    plt.theme("clear")
    plt.plotsize(max(width, 40), max(height, 8))
    all_epochs: set[int] = set()
    for index, (label, record) in enumerate(zip(labels, records, strict=True)):
        epochs, values = metric_series(record, metric)
        if epochs:
            marker = "hd" if color else _MARKERS[index % len(_MARKERS)]
            plt.plot(epochs, values, label=label, marker=marker)
            all_epochs.update(epochs)
    if not all_epochs:
        return Text(f"no run has '{metric}' values to plot")
    if len(all_epochs) <= 20:
        plt.xticks(sorted(all_epochs))
    plt.title(metric)
    plt.xlabel("epoch")
    text = plt.build()
    plt.clear_figure()
    return Text.from_ansi(text) if color else Text(plt.uncolorize(text))


def _side_by_side(title: str, labels: list[str], rows: list[tuple[str, list[Any]]]):
    from rich.table import Table

    from engine.runs.describe import format_value, metric_text

    table = Table(title=title, title_justify="left")
    table.add_column("")
    for label in labels:
        table.add_column(_plain(label), justify="right", overflow="fold")
    for name, values in rows:
        metric = name.split()[-1]
        cells = [
            metric_text(metric, v) if metric.startswith(_METRIC_PREFIXES) else format_value(v)
            for v in values
        ]
        table.add_row(_plain(name), *[_status(c) if name == "status" else _plain(c) for c in cells])
    return table
