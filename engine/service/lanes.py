"""Lanes: where the engine's jobs train — one lane per GPU, or N shares of the CPU cores.

`plan_lanes` turns `--devices` (auto | all | cpu | a list such as cuda:0,cuda:2) and
`--cpu-lanes N` into lane specs, from the machine's device count (injectable, so tests can
describe a machine with GPUs it does not have). Each lane runs one job at a time; a job runs
in its own thread, bound to its lane (`engine.trainer.device.bind_thread`): the lane's CUDA
device, and its share of the CPU threads when there are several lanes, so N runs never ask
for more threads than the machine has cores. A sweep may hold several lanes: it is offered
each free lane it can use and hands back those it has no point left for.

Placement (`LaneSet.candidates`): `auto` goes to any lane of the kind this engine trains on
(its GPUs, else the CPU lanes), `cuda` to any GPU lane, `cuda:N` to that lane only (a pinned
run), `cpu` to any CPU lane. An engine started with `--devices auto` makes a lane on demand
for another device this machine has (a CPU run on a GPU server); with explicit `--devices`
such a request is refused at submission.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from engine.service.jobs import ActiveJob
from engine.service.paths import EngineError
from engine.sweeps.slots import Slot

log = logging.getLogger(__name__)

DEVICES_ENV = "CNNLAB_ENGINE_DEVICES"  # the auto-started engine's --devices
CPU_LANES_ENV = "CNNLAB_CPU_LANES"  # … and its --cpu-lanes

# (job, status, error, run ids) — called on the job's thread when it ends
Done = Callable[[ActiveJob, str, "str | None", list[str]], None]


@dataclass(frozen=True)
class LaneSpec:
    """One lane: `name` ("cuda:1", "cpu", "cpu-2"), the `device` its runs train on, and the
    CPU `threads` each of its runs may use (None: the process's own setting)."""

    name: str
    device: str
    threads: int | None = None

    @property
    def kind(self) -> str:
        return self.device.split(":", 1)[0]

    def slot(self) -> Slot:
        return Slot(self.name, self.device, self.threads)


def machine_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def plan_lanes(
    devices: str = "auto",
    cpu_lanes: int = 1,
    *,
    cuda_count: int,
    cores: int,
    mps: bool = False,
) -> list[LaneSpec]:
    """The lanes of an engine started with `--devices devices --cpu-lanes cpu_lanes` on a
    machine with `cuda_count` GPUs and `cores` cores; EngineError for a request the
    machine cannot meet (a GPU it lacks, more CPU lanes than cores)."""
    if cpu_lanes < 1:
        raise EngineError(f"--cpu-lanes must be at least 1, got {cpu_lanes}")
    wanted = _wanted_devices(devices, cuda_count, mps)
    cpu = "cpu" in wanted
    if cpu_lanes > 1 and not cpu:
        raise EngineError(
            f"--cpu-lanes {cpu_lanes}: this engine has no CPU lane (--devices {devices}); "
            "add cpu to --devices, e.g. --devices all,cpu"
        )
    if cpu and cpu_lanes > cores:
        raise EngineError(
            f"--cpu-lanes {cpu_lanes} would over-subscribe this machine's {cores} core(s): "
            f"at most {cores} CPU lane(s), each with its own core(s)"
        )
    names = [d for d in wanted if d != "cpu"]
    total = len(names) + (cpu_lanes if cpu else 0)
    share = cores // total if total > 1 else None  # one lane keeps the process's setting
    lanes = [LaneSpec(name, name, share) for name in names]
    if cpu:
        if cpu_lanes == 1:
            lanes.append(LaneSpec("cpu", "cpu", share))
        else:
            lanes += [
                LaneSpec(f"cpu-{i}", "cpu", max(share or 1, 1)) for i in range(1, cpu_lanes + 1)
            ]
    return lanes


def _wanted_devices(devices: str, cuda_count: int, mps: bool) -> list[str]:
    """`--devices` text → device names in order ("cuda:0", …, "mps", "cpu")."""
    text = (devices or "auto").strip().lower()
    gpus = [f"cuda:{i}" for i in range(cuda_count)]
    if text == "auto":
        return gpus or (["mps"] if mps else ["cpu"])
    wanted: list[str] = []
    for item in (piece.strip() for piece in text.split(",")):
        if item == "all":
            if not gpus:
                raise EngineError("--devices all: this machine has no CUDA device (use cpu)")
            names = gpus
        elif item == "cuda":
            names = gpus[:1] or [item]
        else:
            names = [item]
        for name in names:
            _check_device(name, cuda_count, mps, devices)
            if name in wanted:
                raise EngineError(f"--devices {devices}: {name} is named twice")
            wanted.append(name)
    if not wanted:
        raise EngineError("--devices: name at least one device (auto, all, cpu, cuda:N)")
    return wanted


def _check_device(name: str, cuda_count: int, mps: bool, devices: str) -> None:
    if name == "cpu" or (name == "mps" and mps):
        return
    if name.startswith("cuda"):
        index = name.partition(":")[2]
        if not cuda_count:
            raise EngineError(f"--devices {devices}: this machine has no CUDA device")
        if index.isdigit() and int(index) < cuda_count:
            return
        raise EngineError(
            f"--devices {devices}: there is no {name}; this machine has cuda:0 to "
            f"cuda:{cuda_count - 1}"
        )
    raise EngineError(f"--devices {devices}: unknown device {name!r} (auto, all, cpu, cuda:N)")


def machine_lanes(devices: str = "auto", cpu_lanes: int = 1) -> list[LaneSpec]:
    """`plan_lanes` for this machine (asks torch how many GPUs it has)."""
    import torch

    from engine.trainer.device import device_problem

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    mps = device_problem("mps") is None
    return plan_lanes(devices, cpu_lanes, cuda_count=count, cores=machine_cores(), mps=mps)


class Lane:
    """A lane and the job holding it (set and cleared on the engine's loop thread)."""

    def __init__(self, spec: LaneSpec) -> None:
        self.spec = spec
        self.job: ActiveJob | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def busy(self) -> bool:
        return self.job is not None


class LaneSet:
    """The engine's lanes by name; `start` runs a job on a thread of its own."""

    def __init__(
        self,
        run_job: Callable[[ActiveJob], tuple],
        done: Done,
        specs: list[LaneSpec] | None = None,
        *,
        on_demand: bool = True,
    ) -> None:
        self._run_job = run_job
        self._done = done
        self.on_demand = on_demand
        self.lanes: dict[str, Lane] = {}
        self._threads: list[threading.Thread] = []
        self.configure(specs or [])

    def configure(self, specs: list[LaneSpec], *, on_demand: bool | None = None) -> None:
        """Set the planned lanes (at start, once the machine's devices are known)."""
        self.lanes = {spec.name: Lane(spec) for spec in specs}
        if on_demand is not None:
            self.on_demand = on_demand

    @property
    def default_kind(self) -> str:
        """What `auto` trains on here: the GPUs when the engine has GPU lanes, else …"""
        kinds = [lane.spec.kind for lane in self.lanes.values()]
        return next((k for k in ("cuda", "mps", "cpu") if k in kinds), "cpu")

    def candidates(self, device: str) -> list[Lane]:
        """The lanes a run asking for `device` may train on (see the module's text)."""
        spec = (device or "auto").strip().lower()
        if spec == "auto":
            spec = self.default_kind
        lanes = list(self.lanes.values())
        if spec in ("cuda", "cpu", "mps"):
            found = [lane for lane in lanes if lane.spec.kind == spec]
        else:
            found = [lane for lane in lanes if lane.name == spec]
        if not found and self.on_demand and self._machine_has(spec):
            lane = Lane(LaneSpec("cuda:0" if spec == "cuda" else spec, spec))
            self.lanes[lane.name] = lane
            found = [lane]
        return found

    @staticmethod
    def _machine_has(device: str) -> bool:
        from engine.trainer.device import device_problem

        return device_problem(device) is None

    def refusal(self, device: str, processes: int = 1) -> str | None:
        """Why this engine cannot take a run for `device` over `processes` processes (None
        when it can: a run over N GPUs needs N GPU lanes; on the CPU its ranks share one)."""
        found = self.candidates(device)
        names = ", ".join(self.lanes) or "none"
        if not found:
            return (
                f"this engine has no lane for device {device} (its lanes: {names}); stop it "
                "and start it with --devices naming that device"
            )
        gpus = [lane for lane in found if lane.spec.kind == "cuda"]
        if processes > 1 and gpus and len(gpus) < processes:
            return (
                f"a run over {processes} GPUs needs {processes} GPU lanes; this engine has "
                f"{len(gpus)} (its lanes: {names}): fewer GPUs per run, or start the engine "
                "with --devices all"
            )
        return None

    def free_for(self, device: str) -> Lane | None:
        return next((lane for lane in self.candidates(device) if not lane.busy), None)

    def text_for(self, device: str) -> str:
        """Where a queued entry for `device` will go: 'cuda:2', 'cpu-1|cpu-2'."""
        names = [lane.name for lane in self.candidates(device)]
        return "|".join(names) if names else f"none for {device}"

    def hold(self, lane: Lane, job: ActiveJob) -> None:
        lane.job = job
        if lane.name not in job.lanes:
            job.lanes.append(lane.name)

    def release(self, name: str, job: ActiveJob) -> bool:
        """`job` is done with lane `name`; True when it held it."""
        lane = self.lanes.get(name)
        if lane is None or lane.job is not job:
            return False
        lane.job = None
        return True

    def release_all(self, job: ActiveJob) -> None:
        for lane in self.lanes.values():
            if lane.job is job:
                lane.job = None

    def start(self, job: ActiveJob, lane: Lane) -> None:
        """Hold `lane` for `job` and run it on a new thread bound to the lane."""
        self.hold(lane, job)
        thread = threading.Thread(
            target=self._work, args=(job, lane.spec), name=f"lane {lane.name}", daemon=True
        )
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _work(self, job: ActiveJob, spec: LaneSpec) -> None:
        from engine.trainer.device import bind_thread

        try:
            bind_thread(spec.device, spec.threads)
            status, error, run_ids = self._run_job(job)
        except Exception as exc:  # ActiveJob.run does not raise; belt and braces
            log.exception("lane %s: job %s crashed", spec.name, job.queue_id)
            status, error, run_ids = "failed", f"unexpected error: {exc}", []
        self._done(job, status, error, run_ids)

    def busy(self) -> list[Lane]:
        return [lane for lane in self.lanes.values() if lane.busy]

    def describe(self) -> list[dict]:
        return [
            {
                "name": lane.name,
                "device": lane.spec.device,
                "threads": lane.spec.threads,
                "busy": lane.job.queue_id if lane.job else None,
            }
            for lane in self.lanes.values()
        ]

    def close(self, timeout: float) -> bool:
        """Wait for the jobs' threads; True when all ended within `timeout`."""
        for thread in self._threads:
            thread.join(timeout)
        return not any(thread.is_alive() for thread in self._threads)


def lanes_from_environment() -> tuple[str, int]:
    """(devices, cpu lanes) for an engine started without flags: $CNNLAB_ENGINE_DEVICES
    and $CNNLAB_CPU_LANES, else auto and 1."""
    devices = os.environ.get(DEVICES_ENV, "").strip() or "auto"
    text = os.environ.get(CPU_LANES_ENV, "").strip() or "1"
    try:
        return devices, int(text)
    except ValueError:
        raise EngineError(f"${CPU_LANES_ENV} must be a whole number, got {text!r}") from None
