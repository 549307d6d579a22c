"""What the commands that talk to the background engine share: which runs folder, connecting
(starting the engine when asked) and saying what a person should know about it — that it
was started, or that the last one died and which runs it left interrupted."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from rich.console import Console

# How a watched entry ended → the exit code of `cnnlab watch` (and of nothing else).
OUTCOME_CODES = {
    "completed": 0,
    "failed": 1,
    "diverged": 1,
    "incomplete": 1,
    "cancelled": 130,
    "interrupted": 75,  # EX_TEMPFAIL: resumable, try again
    "pruned": 0,  # a search stopped it on purpose: a finished trial
}


def add_runs_dir(parser: argparse.ArgumentParser, *, sub: bool = False) -> None:
    """--runs-dir; `sub` for a sub-command's copy, which must not reset the parent's."""
    parser.add_argument(
        "--runs-dir",
        default=argparse.SUPPRESS if sub else None,
        help="runs folder whose engine to use (default $CNNLAB_RUNS or ./runs)",
    )


def runs_dir_of(args: argparse.Namespace) -> Path:
    from engine.runs.files import default_runs_dir

    return Path(getattr(args, "runs_dir", None) or default_runs_dir()).expanduser().resolve()


def connect(
    args: argparse.Namespace,
    console: Console,
    *,
    start: bool,
    idle_timeout: float | None = None,
    client: str = "cnnlab-cli",
    devices: str | None = None,
    cpu_lanes: int | None = None,
):
    """An EngineClient for the args' runs folder; prints a dead engine's notice and that a
    new one was started. EngineNotRunning (a CnnlabError) without `start` when none runs.
    `devices` / `cpu_lanes` shape the lanes of an engine this starts (None: its
    environment's $CNNLAB_ENGINE_DEVICES / $CNNLAB_CPU_LANES)."""
    from engine.service.client import EngineClient

    if start and not _running(args):
        console.print("[dim]starting the engine…[/]")
    engine = EngineClient.connect(
        runs_dir_of(args), start=start, idle_timeout=idle_timeout, client=client,
        devices=devices, cpu_lanes=cpu_lanes,
    )  # fmt: skip
    if engine.notice:
        console.print(f"[yellow]{engine.notice}[/]", markup=True, highlight=False)
    if engine.started:
        idle = engine.engine.get("idle_timeout")
        when = "never exits when idle" if not idle else f"exits after {idle:g} s idle"
        console.print(
            f"[dim]engine started (pid {engine.engine.get('pid')}, {when}; log: "
            f"{engine.paths.log})[/]"
        )
    return engine


def lanes_text(lanes: list[dict[str, Any]]) -> str:
    """'cpu-1 (1 thread, running q3), cpu-2 (1 thread, free)'."""
    shown = []
    for lane in lanes:
        notes = []
        if lane.get("threads"):
            notes.append(f"{lane['threads']} thread{'s' if lane['threads'] != 1 else ''}")
        notes.append(f"running {lane['busy']}" if lane.get("busy") else "free")
        shown.append(f"{lane['name']} ({', '.join(notes)})")
    return ", ".join(shown)


def gpu_lines(telemetry: dict[str, Any]) -> list[str]:
    """One line per GPU ('0 NVIDIA H200 · 87% · 40.1/139.8 GiB · 61°C · 450 W · 2 processes'),
    or the one line saying why there is none."""
    if not telemetry.get("available"):
        return [str(telemetry.get("message") or "no GPU telemetry")]
    lines = []
    for gpu in telemetry.get("gpus") or []:
        parts = [f"{gpu['index']} {gpu.get('name')}"]
        if gpu.get("utilisation") is not None:
            parts.append(f"{gpu['utilisation']:.0f}%")
        if gpu.get("memory_used") is not None and gpu.get("memory_total"):
            parts.append(f"{gpu['memory_used'] / 2**30:.1f}/{gpu['memory_total'] / 2**30:.1f} GiB")
        if gpu.get("temperature") is not None:
            parts.append(f"{gpu['temperature']:.0f}°C")
        if gpu.get("power") is not None:
            parts.append(f"{gpu['power']:.0f} W")
        processes = gpu.get("processes") or []
        parts.append(f"{len(processes)} process{'es' if len(processes) != 1 else ''}")
        lines.append(" · ".join(parts))
    return lines


def _running(args: argparse.Namespace) -> bool:
    from engine.service.client import engine_info

    return engine_info(runs_dir_of(args)) is not None


def age_text(seconds_since_epoch: Any) -> str:
    """'12s', '5m', '3h', '2d' ago."""
    if not isinstance(seconds_since_epoch, (int, float)):
        return "—"
    age = max(time.time() - seconds_since_epoch, 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if age >= size:
            return f"{age // size:.0f}{unit}"
    return f"{age:.0f}s"


def progress_text(view: dict[str, Any]) -> str:
    """'epoch 3/10 · batch 12/40 · loss 0.4321' for a running entry, '' otherwise."""
    if view.get("state") == "queued":
        return f"#{view.get('position')} in line"
    if view.get("waiting_for_lanes"):
        from engine.service.jobs import waiting_text

        return waiting_text(int(view["waiting_for_lanes"]))
    parts = []
    if view.get("epochs"):
        parts.append(f"epoch {view.get('epoch', 0)}/{view['epochs']} done")
    if view.get("batch") and view.get("num_batches"):
        parts.append(f"batch {view['batch']}/{view['num_batches']}")
    if isinstance(view.get("loss"), (int, float)):
        parts.append(f"loss {view['loss']:.4f}")
    return " · ".join(parts) or "starting"
