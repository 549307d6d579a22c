"""How far one hyper-parameter travels: from `cnnlab train --lr 0.0123` to the optimiser.

Runs the CLI in-process under a profiler hook and lists every call of cnnlab's own code
that receives the value (as text in argv, as the float, or inside a namespace, dict or
`TrainConfig`), until the optimiser is built. A structural measure, not a speed one: fewer
hand-offs mean fewer places that could parse, merge or check the value differently.

The dashboard and `train --detach` hand the config to the background engine, which builds
the optimiser in its own process; their walks end when `EngineClient.submit_run` returns
(what the engine does with the config is the same for both from there on).

    python benchmarks/walk_setting.py            # the list, then calls and files
    python benchmarks/walk_setting.py --detach   # cnnlab train --lr … --detach, to the engine
    python benchmarks/walk_setting.py --form     # typed into New run, launched, to the engine
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import inspect
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

VALUE, TEXT = 0.0123, "0.0123"


def _carries(value: Any, depth: int = 0) -> bool:
    """Does `value` hold the lr (the float, its text, or a dict, list, argparse namespace or
    dataclass such as `TrainConfig` holding it)?"""
    if depth > 2:
        return False
    if isinstance(value, float):
        return value == VALUE
    if isinstance(value, str):
        return TEXT in value
    if isinstance(value, dict):
        return any(_carries(v, depth + 1) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_carries(v, depth + 1) for v in value)
    if isinstance(value, argparse.Namespace) or (
        dataclasses.is_dataclass(value) and not isinstance(value, type)
    ):
        return any(_carries(v, depth + 1) for v in vars(value).values())
    return False


OPTIMISER, HANDOVER = "build_optimizer", "EngineClient.submit_run"


def walk(argv: list[str], until: str = OPTIMISER) -> list[tuple[str, str]]:
    """(file, function) of each call that received the value, in call order."""
    from engine.cli import main

    return trace(lambda: main(argv), until=until)


def walk_form(runs_dir: Path) -> list[tuple[str, str]]:
    """The same walk from the dashboard: the value typed into New run's Learning rate
    field, then ctrl+s (driven headless, the form filled with a one-batch run first)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from tui_helpers import TINY_FORM, fill_form, open_new_run, type_into, wait_for

    from cnnlab_tui.app import CnnlabApp

    async def launch(start: threading.Event) -> None:
        app = CnnlabApp(data_root=runs_dir.parent, runs_dir=runs_dir)
        async with app.run_test(size=(120, 40)) as pilot:
            form = await open_new_run(app, pilot)
            fill_form(form, {**TINY_FORM, "epochs": 1, "max_train_batches": 1})
            await type_into(pilot, form, "lr", TEXT)
            await pilot.pause(1.0)  # the checks of the typing have answered
            start.set()
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: bool(app.runner.submitted), timeout=300,
                           what="the engine to take the run")  # fmt: skip

    return trace(lambda start: asyncio.run(launch(start)), wait_for_start=True, until=HANDOVER)


def trace(
    drive: Callable[..., Any], *, wait_for_start: bool = False, until: str = OPTIMISER
) -> list[tuple[str, str]]:
    """Run `drive` with every thread profiled; record the calls once `start` is set (at
    once, or when `drive(start)` sets it) until the function named `until` returns."""
    import engine

    start = threading.Event()
    if not wait_for_start:
        start.set()
    repo = Path(engine.__file__).resolve().parents[1]  # whichever checkout is imported
    calls: list[tuple[str, str]] = []
    done = False

    def hook(frame: Any, event: str, arg: Any) -> None:
        nonlocal done
        if done or event not in ("call", "return") or not start.is_set():
            return
        code = frame.f_code
        path = Path(code.co_filename)
        try:
            where = path.relative_to(repo)
        except ValueError:
            return
        if where.parts[0] not in ("engine", "cnnlab_tui"):
            return
        if event == "return":
            done = code.co_qualname == until
            return
        count = code.co_argcount + code.co_kwonlyargcount
        count += bool(code.co_flags & inspect.CO_VARARGS)
        count += bool(code.co_flags & inspect.CO_VARKEYWORDS)
        arguments = [frame.f_locals.get(n) for n in code.co_varnames[:count]]
        if any(_carries(a) for a in arguments):
            calls.append((str(where), code.co_qualname))

    threading.setprofile(hook)  # the trainer builds its optimiser in its own thread
    sys.setprofile(hook)
    try:
        drive(start) if wait_for_start else drive()
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    return calls


def stop_engine(runs: Path, timeout: float = 60.0) -> None:
    """Stop the engine a walk started (cancelling its run) and wait until it has gone, so
    that its temporary runs folder can be removed."""
    from engine.service.client import EngineClient, EngineNotRunning

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with EngineClient.connect(runs, client="walk_setting") as engine:
                engine.stop(cancel=True)
        except EngineNotRunning:
            return
        time.sleep(0.5)


def main() -> int:
    form, detach = "--form" in sys.argv[1:], "--detach" in sys.argv[1:]
    with tempfile.TemporaryDirectory() as folder:
        runs = Path(folder) / "runs"
        argv = ["train", "--lr", TEXT, "--epochs", "1", "--max-train-batches", "1", "--quiet",
                "--image-size", "16", "--device", "cpu", "--runs-dir", str(runs)]  # fmt: skip
        try:
            if form:
                calls = walk_form(runs)
            elif detach:
                calls = walk([*argv, "--detach"], until=HANDOVER)
            else:
                calls = walk(argv)
        finally:
            stop_engine(runs)
    for number, (path, name) in enumerate(calls, start=1):
        print(f"{number:3d}  {path}:{name}")
    checks = [call for call in calls if call[0].endswith("validation.py")]
    files = {path for path, _ in calls}
    print(f"{len(calls)} calls over {len(files)} files, of which {len(checks)} calls are the")
    print("checks in validation.py (the config passes through them whole)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
