"""A run over several processes as one engine job (the form's "GPUs per run", a queued
`nproc_per_node` > 1).

It holds one lane per process on GPUs (the queue waits until that many are free, the
lanes it already has kept, first come first served) and one lane on the CPU, whose threads
its ranks share. It then starts `cnnlab train` with the run's whole config — the same
launcher a person runs in a terminal (`engine.cli.train_distributed`), which starts the
ranks through torchrun and records a rank's failure in the run folder — in a session of its
own, so it outlives every dashboard like the engine's other runs. Rank 0's events come back
through a file (`engine.service.event_file`) and are published as a Trainer's would be.

Stopping: cancel sends the launcher SIGINT and interrupt SIGTERM; torchrun passes the
signal to every rank, whose trainers agree on the batch to stop after and end the run as
cancelled (SIGINT) or interrupted (SIGTERM, resumable), as for a run in a terminal. The
launcher watches the engine ($CNNLAB_ENGINE_PID): an engine killed outright takes the run
down as `interrupted`, as it takes its own runs, instead of leaving ranks on GPUs that the
next engine would hand out again.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.events import RunFinished, RunStarted
from engine.service.event_file import EVENTS_ENV, EventFileReader
from engine.sweeps.slots import Slot
from engine.trainer.config import TrainConfig

log = logging.getLogger(__name__)

POLL_SECONDS = 0.1  # how often rank 0's new events are read
ENGINE_PID_ENV = "CNNLAB_ENGINE_PID"  # the launcher stops its ranks when this pid is gone
LOG_TAIL_LINES = 8  # of the launcher's output, in the error of a run that never began


def lanes_needed(processes: int, device: str | None) -> int:
    """Lanes a run over `processes` processes holds on a lane of `device`: one per GPU on
    CUDA, one (shared by its ranks) on the CPU."""
    return processes if (device or "").startswith("cuda") else 1


def rank_threads(processes: int, slot: Slot) -> int:
    """CPU threads each rank may use: the lane's share split between the ranks."""
    from engine.service.lanes import machine_cores

    return max(1, (slot.threads or machine_cores()) // processes)


class DistributedRun:
    """The job (subscribe / run / cancel / interrupt, like a `Trainer`) of one run over
    `config.nproc_per_node` processes, on `slots` and those offered later."""

    def __init__(
        self,
        config: TrainConfig,
        runs_dir: Path,
        slots: list[Slot],
        resume: str | None = None,
    ) -> None:
        self.config = config
        self.runs_dir = Path(runs_dir)
        self.resume = resume
        self.processes = config.nproc_per_node
        self.run_id = resume or ""
        self.status = "pending"
        self.summary: dict[str, Any] | None = None
        self.started = False  # the launcher was started (else the entry goes back in line)
        self._slots = list(slots)
        self._needed = lanes_needed(self.processes, self._slots[0].device if slots else None)
        self._subscribers: list[Callable[[object], None]] = []
        self._finished: RunFinished | None = None
        self._stopping: str | None = None  # "cancel" or the interrupt's reason
        self._process: subprocess.Popen | None = None
        self._lock = threading.Condition()

    # ------------------------------------------------------------------ lanes

    def wants_slots(self) -> bool:
        with self._lock:
            return self._stopping is None and len(self._slots) < self._needed

    def offer_slot(self, slot: Slot) -> None:
        with self._lock:
            self._slots.append(slot)
            self._lock.notify_all()

    # ------------------------------------------------------------------ control

    def subscribe(self, callback: Callable[[object], None]) -> None:
        self._subscribers.append(callback)

    def cancel(self) -> None:
        self._stop("cancel", signal.SIGINT)

    def interrupt(self, reason: str) -> None:
        self._stop(reason, signal.SIGTERM)

    def _stop(self, how: str, signum: int) -> None:
        with self._lock:
            if self._stopping is None:
                self._stopping = how
            self._lock.notify_all()
            process = self._process
        if process is not None and process.poll() is None:
            os.kill(process.pid, signum)  # the launcher: torchrun passes it to the ranks

    # ------------------------------------------------------------------ the run

    def run(self) -> DistributedRun:
        """Wait for the lanes, launch, forward events until the launcher exits."""
        with self._lock:
            self._lock.wait_for(lambda: self._stopping or len(self._slots) >= self._needed)
            if self._stopping is not None:
                return self
        workdir = Path(tempfile.mkdtemp(prefix="cnnlab-ranks-"))
        try:
            self._launch_and_follow(workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return self

    def _launch_and_follow(self, workdir: Path) -> None:
        config_file, events, output = (
            workdir / "config.json", workdir / "events.jsonl", workdir / "launcher.log"
        )  # fmt: skip
        config_file.write_text(json.dumps(self.config.to_dict()), encoding="utf-8")
        events.touch()
        reader = EventFileReader(events)
        with open(output, "wb") as sink, self._lock:
            if self._stopping is not None:
                return
            self._process = subprocess.Popen(
                self._command(config_file), env=self._environment(events), stdin=subprocess.DEVNULL,
                stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            self.started = True
        log.info("run over %d processes: launcher pid %d", self.processes, self._process.pid)
        while self._process.poll() is None:
            reader.read(self._deliver)
            time.sleep(POLL_SECONDS)
        reader.read(self._deliver)
        self._settle(output, self._process.returncode)

    def _command(self, config_file: Path) -> list[str]:
        command = [
            sys.executable, "-m", "engine.cli", "train", "--quiet",
            "--config-json", str(config_file), "--runs-dir", str(self.runs_dir),
        ]  # fmt: skip
        return command + (["--resume", self.resume] if self.resume else [])

    def _environment(self, events: Path) -> dict[str, str]:
        from engine.trainer.distributed import source_on_path

        env = {**os.environ, EVENTS_ENV: str(events), ENGINE_PID_ENV: str(os.getpid())}
        env.update(source_on_path(env))
        env["OMP_NUM_THREADS"] = str(rank_threads(self.processes, self._slots[0]))
        gpus = [s.device.split(":", 1)[1] for s in self._slots if (s.device or "")[:5] == "cuda:"]
        if gpus:  # the lanes it holds; rank r trains on the r-th of them
            env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus[: self.processes])
        return env

    def _deliver(self, event: object) -> None:
        if isinstance(event, RunStarted):
            self.run_id = event.run_id
        elif isinstance(event, RunFinished):
            self._finished = event
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:  # a subscriber's bug must not stop the others
                log.exception("a subscriber failed on %s", type(event).__name__)

    def _settle(self, output: Path, code: int) -> None:
        """The run's outcome from its folder (the launcher recorded a rank's failure
        there), and a RunFinished for subscribers when rank 0 could not send one."""
        from engine.runs import read_run

        run_dir = self.runs_dir / self.run_id if self.run_id else None
        if run_dir is not None and run_dir.is_dir():
            record = read_run(run_dir)
            self.status, self.summary = record.status, dict(record.summary or {})
            if self.status == "running":  # the launcher died before it could say
                self.status = "failed"
        else:
            self.status = {None: "failed", "cancel": "cancelled"}.get(self._stopping, "interrupted")
            self.summary = {"error": _tail(output) or f"the launcher exited with code {code}"}
        if self.status in ("completed", "cancelled"):
            self.summary.pop("error", None)
        if self._finished is None and self.run_id:
            error = self.summary.get("error")
            self._deliver(RunFinished(self.run_id, self.status, error, dict(self.summary)))


def _tail(output: Path) -> str:
    try:
        lines = output.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-LOG_TAIL_LINES:])
