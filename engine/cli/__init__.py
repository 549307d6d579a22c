"""Headless command line: `cnnlab <command> …`.

Each command group lives in its own module exposing `register(subparsers)`, which adds
its sub-parsers and sets `func(args) -> int` on them. `main` only wires them together.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from engine.errors import CnnlabError

# Command modules, in the order their commands appear in `--help`.
COMMAND_MODULES = (
    "engine.cli.ops_cmd",
    "engine.cli.train_cmd",
    "engine.cli.watch_cmd",
    "engine.cli.queue_cmd",
    "engine.cli.engine_cmd",
    "engine.cli.runs_cmd",
    "engine.cli.label_cmd",
    "engine.cli.datasets_cmd",
    "engine.cli.models_cmd",
    "engine.cli.sweep_cmd",
    "engine.cli.report_cmd",
    "engine.cli.predict_cmd",
    "engine.cli.evaluate_cmd",
    "engine.cli.explain_cmd",
    "engine.cli.export_cmd",
    "engine.cli.tensorboard_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every command module registered."""
    parser = argparse.ArgumentParser(
        prog="cnnlab",
        description="cnnlab: a terminal lab for convolutional networks. "
        "Run without a command to open the dashboard.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse `argv` and run one command; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # as typed (a launcher repeats it)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CnnlabError as exc:  # a person's mistake: say what, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
