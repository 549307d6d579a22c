"""Out of memory on the CPU: a batch that cannot fit is refused before training with the
estimate and the "lower --batch-size" hint, the estimate is close to what a real step
takes, and an allocation that still fails at run time gets the same hint instead of a raw
`DefaultCPUAllocator` traceback."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from test_datasets_helpers import make_class_folders

from engine.errors import ConfigError
from engine.events import EpochEnd
from engine.runs import read_run
from engine.trainer import TrainConfig
from engine.trainer.loop import Trainer

REPO = Path(__file__).resolve().parents[1]


def _available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    pytest.skip("no /proc/meminfo MemAvailable on this machine")


def test_a_batch_that_cannot_fit_is_refused_before_training(tmp_path, monkeypatch):
    from engine.trainer.resources import step_memory

    monkeypatch.setenv("CNNLAB_CACHE", str(tmp_path / "cache"))
    data = make_class_folders(tmp_path / "set", {"a": 12, "b": 12})
    config = TrainConfig(dataset="folder", data_root=str(data), image_size=1024,
                         test_fraction=0.25, model="conv", batch_size=64, epochs=1,
                         device="cpu")  # fmt: skip
    needed = step_memory(config, 2, 18)  # 18 training images: the whole set is one batch
    if needed < 2 * _available():
        pytest.skip(f"this machine has {_available() / 2**30:.0f} GiB free: the batch fits")
    trainer = Trainer(config, runs_dir=tmp_path / "runs")
    events: list = []
    trainer.subscribe(events.append)
    assert trainer.run() == "failed"
    assert isinstance(trainer.error, ConfigError) and set(trainer.error.errors) == {"batch_size"}
    message = trainer.summary["error"]
    assert "lower --batch-size" in message and "batch size 18 at 1024 px" in message
    assert f"{needed / 2**30:.1f} GiB" in message and "available" in message
    assert not any(isinstance(e, EpochEnd) for e in events)
    assert read_run(trainer.run_dir).status == "failed"


@pytest.mark.slow
def test_the_estimate_is_close_to_a_real_training_step(monkeypatch):
    """Peak resident memory of one real step (a fresh process, as the benchmark measures
    it) vs the meta-device estimate: it may err on the safe side, not refuse what fits."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    from bench_memory_estimate import measure

    estimate, measured = measure("conv:96:48")
    assert 0.7 <= estimate / measured <= 2.5, f"estimate {estimate}, measured {measured}"


def test_the_meta_forward_allocates_nothing():
    from engine.trainer.resources import activation_bytes, meta_model

    model = meta_model(TrainConfig(model="resnet18", image_size=224), 10)
    assert all(p.device.type == "meta" for p in model.parameters())
    assert activation_bytes(model, 512, 224) > 100 * 2**30  # ~hundreds of GiB, instantly


@pytest.mark.slow
def test_a_cpu_allocation_failure_at_run_time_gets_the_batch_size_hint(tmp_path):
    """A real `DefaultCPUAllocator: can't allocate memory`: the run's address space is
    capped (RLIMIT_AS) below what one step needs (~0.9 GiB) but above what the pre-check
    can see (it reads MemAvailable)."""
    data = make_class_folders(tmp_path / "set", {"a": 16, "b": 16})
    script = textwrap.dedent(
        f"""
        import resource, torch
        from engine.trainer import TrainConfig
        from engine.trainer.loop import Trainer
        torch.set_num_threads(1)
        status = open("/proc/self/status").read().split("VmSize:")[1].split()[0]
        limit = int(status) * 1024 + 700 * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))
        config = TrainConfig(dataset="folder", data_root={str(data)!r}, image_size=128,
                             model="conv", epochs=1, batch_size=64, device="cpu")
        trainer = Trainer(config, runs_dir={str(tmp_path / "runs")!r})
        print(trainer.run())
        print(trainer.summary["error"])
        """
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                            text=True, timeout=300, env={"PYTHONPATH": str(REPO),
                            "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin",
                            "CNNLAB_CACHE": str(tmp_path / "cache")})  # fmt: skip
    status, error = result.stdout.strip().splitlines()[-2:]
    assert status == "failed", result.stderr[-2000:]
    assert "out of memory" in error and "lower --batch-size" in error
    (run_dir,) = (tmp_path / "runs").iterdir()
    log = (run_dir / "run.log").read_text()
    assert "Traceback" not in log and "lower --batch-size" in log


def test_allocation_failures_are_recognised_on_every_device():
    from engine.trainer.failures import is_out_of_memory

    cpu = RuntimeError(
        "[enforce fail at alloc_cpu.cpp:121] data. DefaultCPUAllocator: "
        "can't allocate memory: you tried to allocate 8589934592 bytes."
    )
    assert is_out_of_memory(cpu)
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)"))
    assert is_out_of_memory(MemoryError())
    wrapped = RuntimeError("worker failed")
    wrapped.__cause__ = MemoryError()
    assert is_out_of_memory(wrapped)
    assert not is_out_of_memory(RuntimeError("shape mismatch"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_batch_that_cannot_fit_on_the_gpu_is_refused_with_its_free_memory(tmp_path):
    from engine.trainer.resources import available_memory, step_memory

    config = TrainConfig(dataset="shapes", image_size=128, model="conv", batch_size=2400,
                         epochs=1, device="cuda")  # fmt: skip
    free = available_memory(torch.device("cuda"))
    if step_memory(config, 3, 2400) < 2 * free:
        pytest.skip("this GPU could hold the batch")
    trainer = Trainer(config, runs_dir=tmp_path / "runs")
    assert trainer.run() == "failed" and isinstance(trainer.error, ConfigError)
    assert "lower --batch-size" in trainer.summary["error"] and "cuda" in trainer.summary["error"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_real_cuda_allocation_failure_is_recognised():
    from engine.trainer.failures import is_out_of_memory

    free, _ = torch.cuda.mem_get_info()
    with pytest.raises(Exception) as caught:
        torch.empty(int(free * 2), dtype=torch.uint8, device="cuda")
    assert is_out_of_memory(caught.value)
