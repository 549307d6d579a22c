"""`cnnlab engine status | start | stop`: the background engine of a runs folder.

    cnnlab engine status                     # running? its pid, lanes, queue, clients
    cnnlab engine start --idle-timeout 3600  # start it (or change its idle timeout)
    cnnlab engine start --devices cuda:0,cuda:2   # one lane per GPU named (all: every GPU)
    cnnlab engine start --cpu-lanes 2        # no GPU: two runs at a time, half the cores each
    cnnlab engine stop [--wait | --cancel]   # exit; --wait after the active runs finish,
                                             # --cancel cancels them (resumable)

The engine starts on demand (the dashboard, `cnnlab train --detach`, `cnnlab queue`) and
exits by itself after its idle timeout with nothing queued, nothing running and no client
(default 600 s; $CNNLAB_ENGINE_IDLE). Queued entries stay on disk when it stops and run when
an engine starts again. Exit codes: 0 done, 1 refused or failed, 3 (status) not running.
"""

from __future__ import annotations

import argparse
import time

from rich.console import Console

from engine.cli.engine_common import add_runs_dir, connect, gpu_lines, lanes_text, runs_dir_of

EXIT_NOT_RUNNING = 3
STOP_TIMEOUT = 180.0  # seconds `stop` (without --wait) waits for the engine to exit


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "engine",
        help="status, start or stop the background engine that trains queued runs",
        description=__doc__.split("\n\n")[0].split(": ", 1)[1],
    )
    add_runs_dir(parser)
    actions = parser.add_subparsers(dest="engine_action", metavar="ACTION")
    status = actions.add_parser("status", help="is it running, and what does it do")
    add_runs_dir(status, sub=True)
    start = actions.add_parser("start", help="start it (no-op when running)")
    start.add_argument(
        "--idle-timeout", type=float, default=None, metavar="S",
        help="exit after S seconds idle (0: never; default $CNNLAB_ENGINE_IDLE or 600)",
    )  # fmt: skip
    start.add_argument(
        "--devices", default=None, metavar="D",
        help="auto (every GPU, else the CPU), all (every GPU), cpu, or a list such as "
        "cuda:0,cuda:2: one lane per GPU (default $CNNLAB_ENGINE_DEVICES or auto)",
    )  # fmt: skip
    start.add_argument(
        "--cpu-lanes", type=int, default=None, metavar="N",
        help="split the CPU cores between N runs at a time, each with cores/N threads "
        "(default $CNNLAB_CPU_LANES or 1)",
    )  # fmt: skip
    add_runs_dir(start, sub=True)
    stop = actions.add_parser("stop", help="stop it; queued entries stay for the next start")
    how = stop.add_mutually_exclusive_group()
    how.add_argument("--wait", action="store_true", help="after the active runs finish")
    how.add_argument("--cancel", action="store_true", help="cancel the active runs first")
    add_runs_dir(stop, sub=True)
    parser.set_defaults(func=run_engine)


def run_engine(args: argparse.Namespace) -> int:
    console = Console(highlight=False)
    action = getattr(args, "engine_action", None) or "status"
    if action == "start":
        return _start(console, args)
    if action == "stop":
        return _stop(console, args)
    return _status(console, args)


def _status(console: Console, args: argparse.Namespace) -> int:
    from engine.service.client import EngineNotRunning, died_notice
    from engine.service.paths import EnginePaths

    try:
        engine = connect(args, console, start=False)
    except EngineNotRunning:
        notice = died_notice(EnginePaths.of(runs_dir_of(args)))
        if notice:
            console.print(f"[yellow]{notice}[/]")
        console.print(
            f"no engine is running for {runs_dir_of(args)} (it starts on demand: the "
            "dashboard, cnnlab train --detach, cnnlab queue, cnnlab engine start)"
        )
        return EXIT_NOT_RUNNING
    with engine:
        status = engine.status()
        gpus = gpu_lines(engine.telemetry())
    idle = status.get("idle_timeout")
    lanes = lanes_text(status.get("lanes", []))
    up = time.time() - float(status.get("started_at") or time.time())
    console.print(f"[green]engine running[/] (pid {status.get('pid')}, up {up / 60:.0f} min)")
    rows = [
        ("runs folder", status.get("runs_dir")),
        ("socket", status.get("socket")),
        ("log", str(engine.paths.log)),
        ("lanes", lanes or "none"),
        ("running", status.get("active")),
        ("queued", status.get("queued")),
        ("clients", status.get("clients")),
        ("idle exit", "never" if not idle else f"after {idle:g} s idle"),
    ]
    rows += [("gpus" if i == 0 else "", line) for i, line in enumerate(gpus)]
    if status.get("stopping"):
        rows.append(("stopping", status["stopping"]))
    for name, value in rows:
        console.print(f"  {name:12} {value}")
    return 0


def _start(console: Console, args: argparse.Namespace) -> int:
    from engine.service.client import engine_info

    already = engine_info(runs_dir_of(args)) is not None
    with connect(
        args, console, start=True, idle_timeout=args.idle_timeout,
        devices=args.devices, cpu_lanes=args.cpu_lanes,
    ) as engine:  # fmt: skip
        if already and args.idle_timeout is not None:
            engine.configure(idle_timeout=args.idle_timeout)
        lanes = lanes_text(engine.status().get("lanes", []))
        if already:
            timeout = args.idle_timeout if args.idle_timeout is not None else None
            changed = f"; idle timeout now {timeout:g} s" if timeout is not None else ""
            console.print(f"engine already running (pid {engine.engine.get('pid')}){changed}")
            if args.devices is not None or args.cpu_lanes is not None:
                console.print(
                    "[yellow]its lanes stay as they are[/] (lanes are set when it starts: "
                    "cnnlab engine stop --wait, then start it again with --devices / "
                    "--cpu-lanes)"
                )
        console.print(f"lanes: {lanes}")
    return 0


def _stop(console: Console, args: argparse.Namespace) -> int:
    from engine.service.client import EngineNotRunning, wait_until_stopped

    try:
        engine = connect(args, console, start=False)
    except EngineNotRunning:
        console.print("no engine is running")
        return 0
    with engine:
        result = engine.stop(cancel=args.cancel, wait=args.wait)
    active, queued = result.get("active", 0), result.get("queued", 0)
    if active and args.cancel:
        console.print(f"cancelling {active} run(s) after their current batch…")
    elif active:
        console.print(f"waiting for {active} run(s) to finish (Ctrl-C stops waiting only)…")
    timeout = float("inf") if args.wait else STOP_TIMEOUT
    try:
        stopped = wait_until_stopped(runs_dir_of(args), timeout)
    except KeyboardInterrupt:
        console.print("stopped waiting; the engine stops after its runs")
        return 0
    if not stopped:
        console.print(f"[red]the engine has not exited after {timeout:.0f} s[/]")
        return 1
    kept = (
        f"; {queued} queued entr(ies) stay queued and run when an engine starts again "
        "(cnnlab engine start, cnnlab queue)"
        if queued
        else ""
    )
    console.print(f"engine stopped{kept}")
    return 0
