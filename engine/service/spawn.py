"""Starting an engine detached from the terminal that asked for it.

`python -m engine.service` in its own session (no controlling terminal, so closing the SSH
window does not reach it), stdin from /dev/null, stdout and stderr appended to
`<runs>/.engine/engine.log`, in the caller's folder and environment (relative data paths
and $CNNLAB_DATA mean what they meant to the caller). A daemon thread reaps it if it exits
while the caller still runs, so it never lingers as a zombie of a long-lived dashboard.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path

from engine.service.paths import EnginePaths

LOG_TAIL_LINES = 12
LOG_KEPT_BYTES = 5 << 20  # a longer engine.log becomes engine.log.1 at the next start


def start_detached(
    paths: EnginePaths,
    idle_timeout: float | None = None,
    *,
    devices: str | None = None,
    cpu_lanes: int | None = None,
) -> subprocess.Popen:
    """Launch the engine of `paths.runs_dir` and return at once (see `wait_for_engine`);
    `devices` / `cpu_lanes` None: the engine reads $CNNLAB_ENGINE_DEVICES / $CNNLAB_CPU_LANES."""
    paths.ensure_folder()
    command = [sys.executable, "-m", "engine.service", "--runs-dir", str(paths.runs_dir)]
    if idle_timeout is not None:
        command += ["--idle-timeout", f"{idle_timeout:g}"]
    if devices:
        command += ["--devices", devices]
    if cpu_lanes is not None:
        command += ["--cpu-lanes", str(int(cpu_lanes))]
    env = dict(os.environ)
    source = Path(__file__).resolve().parents[2]
    if (source / "pyproject.toml").is_file():  # a source tree: the engine imports this one
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(source), env.get("PYTHONPATH")) if p)
    if paths.log.exists() and paths.log.stat().st_size > LOG_KEPT_BYTES:
        os.replace(paths.log, paths.log.with_name(paths.log.name + ".1"))
    with open(paths.log, "ab") as log, open(os.devnull, "rb") as devnull:
        log.write(f"--- starting: {' '.join(command)}\n".encode())
        log.flush()
        process = subprocess.Popen(
            command,
            stdin=devnull,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=env,
        )
    threading.Thread(target=process.wait, name="engine reaper", daemon=True).start()
    return process


def log_tail(paths: EnginePaths, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of the engine's log (for a start that failed)."""
    try:
        with open(paths.log, encoding="utf-8", errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines)).rstrip()
    except OSError:
        return "(no engine log)"
