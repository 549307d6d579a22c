"""How far one hyper-parameter travels: from `cnnlab train --lr 0.0123` to the optimiser.

Runs the CLI in-process under a profiler hook and lists every call of cnnlab's own code
that receives the value (as text in argv, as the float, or inside a namespace, dict or
`TrainConfig`), until the optimiser is built. A structural measure, not a speed one: fewer
hand-offs mean fewer places that could parse, merge or check the value differently.

    python benchmarks/walk_setting.py            # the list, then calls and files
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import sys
import tempfile
import threading
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


def walk(argv: list[str]) -> list[tuple[str, str]]:
    """(file, function) of each call that received the value, in call order."""
    import engine
    from engine.cli import main

    repo = Path(engine.__file__).resolve().parents[1]  # whichever checkout is imported
    calls: list[tuple[str, str]] = []
    done = False

    def hook(frame: Any, event: str, arg: Any) -> None:
        nonlocal done
        if done or event not in ("call", "return"):
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
            done = code.co_name == "build_optimizer"
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
        main(argv)
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    return calls


def main() -> int:
    with tempfile.TemporaryDirectory() as runs:
        argv = ["train", "--lr", TEXT, "--epochs", "1", "--max-train-batches", "1",
                "--image-size", "16", "--device", "cpu", "--quiet", "--runs-dir", runs]  # fmt: skip
        calls = walk(argv)
    for number, (path, name) in enumerate(calls, start=1):
        print(f"{number:3d}  {path}:{name}")
    checks = [call for call in calls if call[0].endswith("validation.py")]
    files = {path for path, _ in calls}
    print(f"{len(calls)} calls over {len(files)} files, of which {len(checks)} calls are the")
    print("checks in validation.py (the config passes through them whole)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
