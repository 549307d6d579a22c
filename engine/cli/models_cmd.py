"""`cnnlab models [NAME]`: the model zoo from the command line.

Without a name: a table of every model (name, task, parameters, description), parameters
counted for the default options at `--image-size` px and `--num-classes` classes (32 and 3 by
default: the vehicles set). With a name: that model's options — type, default, help — and its
parameter count with any `--option key=value` applied, so a size can be checked before a run.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from engine.errors import CnnlabError
from engine.trainer.config import TASKS

if TYPE_CHECKING:
    from engine.models import ModelInfo


def register(subparsers) -> None:
    """Add the `models` command."""
    parser = subparsers.add_parser(
        "models",
        help="list the models (or show one model's options)",
        description="List the model zoo, or show one model's options and size.",
    )
    parser.add_argument("name", nargs="?", help="show this model's options")
    parser.add_argument("--task", choices=TASKS, help="only models of this task")
    parser.add_argument(
        "--image-size", type=int, default=32, help="image side used to count parameters (32)"
    )
    parser.add_argument(
        "--num-classes", type=int, default=3, help="classes used to count parameters (3)"
    )
    parser.add_argument(
        "-o",
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="with NAME: count parameters with this option set (repeatable)",
    )
    parser.set_defaults(func=run_models)


def run_models(args: argparse.Namespace) -> int:
    """Print the table or one model's details; a person's mistake prints one line, exit 1."""
    from engine.models import get_model_info

    console = Console(highlight=False)
    try:
        if args.name:
            console.print(_model_details(args, get_model_info(args.name)))
        else:
            if args.option:
                raise CnnlabError("--option needs a model NAME")
            console.print(_models_table(args))
    except CnnlabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def _params(name: str, args: argparse.Namespace, options: dict[str, str] | None = None) -> int:
    from engine.models import parameter_count

    return parameter_count(
        name, num_classes=args.num_classes, image_size=args.image_size, **(options or {})
    )


def _models_table(args: argparse.Namespace) -> Table:
    from engine.models import list_models

    table = Table(
        title=f"cnnlab models (parameters at {args.image_size} px, {args.num_classes} classes)"
    )
    table.add_column("name", style="bold")
    table.add_column("task")
    table.add_column("params", justify="right")
    table.add_column("description")
    for info in list_models(args.task):
        try:
            params = f"{_params(info.name, args):,}"
        except CnnlabError:  # an image size below this model's minimum
            params = "too small"
        table.add_row(info.name, info.task, params, escape(info.description))
    return table


def _parse_assignments(pairs: list[str]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CnnlabError(f"--option expects KEY=VALUE, got {pair!r}")
        options[key.strip()] = value
    return options


def _model_details(args: argparse.Namespace, info: ModelInfo) -> Table:
    from engine.models import resolve_options

    options = _parse_assignments(args.option)
    params = _params(info.name, args, options)
    caption = f"{params:,} parameters at {args.image_size} px, {args.num_classes} classes"
    if args.option:
        caption += f" with {', '.join(args.option)}"
    resolved = resolve_options(info.name, options)
    if "dilations" in resolved:
        caption += "\n" + _hdc_line(resolved["dilations"], resolved.get("kernel_size", 3))
    table = Table(
        title=escape(f"{info.name} ({info.task}): {info.description}"),
        caption=escape(caption),
    )
    table.add_column("option", style="bold")
    table.add_column("type")
    table.add_column("default")
    table.add_column("help")
    for spec in info.option_specs:
        default = info.options[spec.name]
        shown = ",".join(map(str, default)) if isinstance(default, list) else str(default)
        table.add_row(spec.name, escape(spec.describe()), escape(shown), escape(spec.help))
    return table


def _hdc_line(dilations: list[int], kernel_size: int) -> str:
    """The HDC verdict of a dilation list, in one line."""
    from engine.ops.arithmetic import hdc_check

    report = hdc_check(dilations, kernel_size)
    verdict = "ok" if report.ok else "not ok: " + "; ".join(report.reasons)
    return f"HDC check of dilations {','.join(map(str, dilations))}: {verdict}"
