"""`python -m engine.service --runs-dir DIR [--idle-timeout S] [--devices D] [--cpu-lanes N]`:
run the engine of DIR here.

Clients start it detached (engine.service.spawn); run by hand it is the same process in the
foreground (Ctrl-C stops it like SIGTERM). Exit codes: 0 stopped cleanly, 2 bad arguments,
3 another engine already serves DIR.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from engine.errors import CnnlabError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from engine.service.server import IDLE_ENV

    parser = argparse.ArgumentParser(prog="python -m engine.service", description=__doc__)
    parser.add_argument("--runs-dir", required=True, help="the runs folder this engine owns")
    parser.add_argument(
        "--idle-timeout", type=float, default=None, metavar="S",
        help=f"exit after S seconds with nothing to do and no client (0: never; default "
        f"${IDLE_ENV} or 600)",
    )  # fmt: skip
    parser.add_argument(
        "--devices", default=None, metavar="D",
        help="what to train on: auto (every GPU, else the CPU), all (every GPU), cpu, or a "
        "list such as cuda:0,cuda:2 — one lane per GPU (default $CNNLAB_ENGINE_DEVICES or auto)",
    )  # fmt: skip
    parser.add_argument(
        "--cpu-lanes", type=int, default=None, metavar="N",
        help="split the CPU cores between N runs at a time (default $CNNLAB_CPU_LANES or 1)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.idle_timeout is not None and not args.idle_timeout >= 0:
        parser.error("--idle-timeout must be ≥ 0")
    return args


def main(argv: list[str] | None = None) -> int:
    from engine.service.lanes import lanes_from_environment
    from engine.service.paths import EnginePaths
    from engine.service.server import Engine, idle_timeout_default

    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Each run's lines are in its run.log; the engine's log keeps the engine's own story.
    logging.getLogger("engine.trainer").setLevel(logging.WARNING)
    try:
        idle = args.idle_timeout if args.idle_timeout is not None else idle_timeout_default()
        devices, cpu_lanes = lanes_from_environment()
        engine = Engine(
            EnginePaths.of(args.runs_dir),
            idle_timeout=idle,
            devices=args.devices or devices,
            cpu_lanes=args.cpu_lanes if args.cpu_lanes is not None else cpu_lanes,
        )
        return asyncio.run(engine.serve())
    except CnnlabError as exc:
        logging.getLogger("engine.service").error("%s", exc)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
