"""GPU telemetry: the sampler fed a stand-in at the NVML call boundary (a fake `pynvml`
module with two GPUs), what a machine without a GPU says (one line, for real here), the
engine serving it over the protocol, and — on a machine with an NVIDIA GPU — real values."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
from engine_helpers import REPO, collect, running_engine

from engine.service.events import GpuTelemetry, SnapshotEnd
from engine.service.protocol import decode, encode, event_from_dict, event_message
from engine.telemetry import GpuSampler, load_nvml, read_gpus


class NVMLError(Exception):
    pass


def fake_nvml(count: int = 2, *, init_error: str | None = None) -> SimpleNamespace:
    """The functions cnnlab calls, as pynvml names them; GPU 1 cannot report its power,
    and utilisation climbs by 10 % per reading."""
    climbing = itertools.count(0, 10)

    def init():
        if init_error:
            raise NVMLError(init_error)

    def power(handle):
        if handle == 1:
            raise NVMLError("Not Supported")
        return 250_500  # milliwatts

    return SimpleNamespace(
        NVMLError=NVMLError,
        NVML_TEMPERATURE_GPU=0,
        nvmlInit=init,
        nvmlShutdown=lambda: None,
        nvmlDeviceGetCount=lambda: count,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetName=lambda h: f"Fake GPU {h}".encode(),
        nvmlDeviceGetUUID=lambda h: f"GPU-0000000{h}-aaaa-bbbb-cccc-dddddddddddd",
        nvmlDeviceGetUtilizationRates=lambda h: SimpleNamespace(gpu=min(next(climbing), 100)),
        nvmlDeviceGetMemoryInfo=lambda h: SimpleNamespace(used=(h + 1) * 2**30, total=80 * 2**30),
        nvmlDeviceGetTemperature=lambda h, sensor: 40 + h,
        nvmlDeviceGetPowerUsage=power,
        nvmlDeviceGetComputeRunningProcesses=lambda h: [
            SimpleNamespace(pid=1234, usedGpuMemory=2**29)
        ],
    )


def test_a_reading_holds_what_nvml_says_and_unknown_values_are_none():
    nvml, message = load_nvml(fake_nvml())
    assert message is None
    first, second = read_gpus(nvml)
    assert (first.index, first.name, first.memory_used, first.memory_total) == (
        0,
        "Fake GPU 0",
        2**30,
        80 * 2**30,
    )
    assert first.power == pytest.approx(250.5) and first.temperature == 40
    assert first.processes == [{"pid": 1234, "memory": 2**29}]
    assert second.power is None and second.uuid.startswith("GPU-00000001")


def test_no_driver_or_no_gpu_is_one_line():
    assert load_nvml(fake_nvml(init_error="Driver Not Loaded")) == (
        None,
        "no NVIDIA GPU to watch (Driver Not Loaded)",
    )
    assert load_nvml(fake_nvml(count=0))[1] == "no NVIDIA GPU to watch (NVML sees none)"
    sampler = GpuSampler(fake_nvml(init_error="Driver Not Loaded")).start()
    snapshot = sampler.snapshot()
    assert (
        not snapshot.available
        and snapshot.gpus == []
        and "Driver Not Loaded" in (snapshot.message or "")
    )


def test_the_sampler_keeps_a_history_and_averages_a_window():
    sampler = GpuSampler(fake_nvml(), interval=0.02, history=50).start()
    try:
        time.sleep(0.3)
        since = time.time()
        time.sleep(0.3)
        snapshot = sampler.snapshot()
    finally:
        sampler.stop()
    assert snapshot.available and [g.index for g in snapshot.gpus] == [0, 1]
    history = snapshot.history[0]
    assert len(history) >= 5 and history == sorted(history)  # climbing, oldest first
    util = sampler.utilisation("00000000-aaaa-bbbb-cccc-dddddddddddd", since)  # torch's form
    assert util is not None and history[0] < util <= 100
    assert sampler.utilisation("not-this-gpu", since) is None
    payload = snapshot.to_dict(history=3)
    assert len(payload["history"]["0"]) == 3
    event = GpuTelemetry(**payload)
    assert event_from_dict(decode(encode(event_message(None, event)))["event"]) == event


def test_a_cpu_run_records_no_gpu_keys():
    import torch

    from engine.trainer.gpu_stats import EpochGpuStats

    stats = EpochGpuStats(torch.device("cpu"))
    stats.begin()
    assert stats.end() == {} and not stats.on
    stats.close()


def test_the_engine_serves_telemetry_and_says_why_there_is_none(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this checks the no-GPU line; the GPU script checks real values")
    runs = tmp_path / "runs"
    with running_engine(runs) as client:
        reply = client.telemetry()
        assert reply["available"] is False and reply["gpus"] == []
        assert reply["message"].startswith(("no NVIDIA GPU to watch", "GPU telemetry needs"))
        with client.subscribe(telemetry=True) as updates:
            got = collect(updates, lambda u: isinstance(u.event, SnapshotEnd))
        events = [u.event for u in got if isinstance(u.event, GpuTelemetry)]
        assert len(events) == 1 and events[0].message == reply["message"]
        with client.subscribe() as plain:  # not asked: never sent
            got = collect(plain, lambda u: isinstance(u.event, SnapshotEnd))
        assert not any(isinstance(u.event, GpuTelemetry) for u in got)
        status = subprocess.run(
            [sys.executable, "-m", "engine.cli", "engine", "status", "--runs-dir", str(runs)],
            cwd=REPO, capture_output=True, text=True, timeout=60,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
    assert status.returncode == 0, status.stderr
    line = next(line for line in status.stdout.splitlines() if line.strip().startswith("gpus"))
    assert reply["message"] in line


def test_real_gpus_are_read_where_there_are_some():
    nvml, message = load_nvml()
    if nvml is None:
        pytest.skip(f"needs an NVIDIA GPU and nvidia-ml-py: {message}")
    readings = read_gpus(nvml)
    assert readings and all(r.memory_total and r.memory_total > 0 for r in readings)
    assert all(r.utilisation is not None and 0 <= r.utilisation <= 100 for r in readings)
