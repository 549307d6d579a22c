"""A run over several processes submitted to the engine (the form's "GPUs per run"), for
real: the engine launches `cnnlab train` with the run's config, torchrun starts two gloo
ranks on this CPU, rank 0's events reach the engine's subscribers through a file, and the
run folder records two processes. Cancel reaches every rank through torchrun (SIGINT) and
the run ends `cancelled`; the lane rules (N GPU lanes for N GPUs, one CPU lane shared) and
the refusals are checked on lanes described for a machine with GPUs it does not have."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_helpers import collect, finished, running_engine, stop_engine, tiny_config

from engine.errors import ConfigError
from engine.events import BatchProgress, EpochEnd, RunFinished, RunStarted
from engine.runs import RunStore
from engine.service.distributed_job import lanes_needed, rank_threads
from engine.service.events import EntryFinished
from engine.service.jobs import ActiveJob, check_entry, entry_processes
from engine.service.lanes import LaneSet, LaneSpec
from engine.service.queue_store import QueueEntry
from engine.sweeps import SweepSpec
from engine.sweeps.slots import Slot
from engine.trainer.config import TrainConfig
from engine.trainer.loop import Trainer

pytestmark = pytest.mark.timeout(400)
TWO = {"nproc_per_node": 2, "batch_size": 20, "model": "mlp", "model_options": {"hidden": [32]}}


def _events(updates, queue_id):
    return [u.event for u in updates if u.queue_id == queue_id]


@pytest.mark.slow
def test_the_engine_trains_one_run_over_two_processes_and_forwards_its_events(tmp_path):
    runs = tmp_path / "runs"
    with running_engine(runs) as client, client.subscribe() as updates:
        entry = client.submit_run(tiny_config(epochs=2, **TWO))
        queue_id = entry["queue_id"]
        assert entry["label"].endswith(", 2 processes")
        seen = _events(collect(updates, finished(queue_id), timeout=300), queue_id)
    kinds = [type(e).__name__ for e in seen]
    assert kinds[0] == "EntryStarted" and "RunStarted" in kinds and kinds[-1] == "EntryFinished"
    assert kinds.count("EpochEnd") == 2 and "BatchProgress" in kinds
    assert isinstance(seen[-2], RunFinished) and seen[-2].status == "completed"
    end = seen[-1]
    assert isinstance(end, EntryFinished) and end.status == "completed"
    [run_id] = end.run_ids
    record = RunStore(runs).get(run_id)
    assert record.status == "completed" and len(record.metrics) == 2
    assert record.config["nproc_per_node"] == 2
    assert "2 processes (gloo)" in record.summary["device"]
    epochs = [e.metrics for e in seen if isinstance(e, EpochEnd)]
    assert [m["train_loss"] for m in epochs] == [m["train_loss"] for m in record.metrics]
    started = next(e for e in seen if isinstance(e, RunStarted))
    assert started.run_id == run_id and started.config["nproc_per_node"] == 2
    # the ranks trained the submitted config: one process on the same global batch and seed
    # gives the same losses (an MLP has no BatchNorm; float32 sums in another order)
    one = Trainer(
        TrainConfig.from_dict(tiny_config(epochs=2, **{**TWO, "nproc_per_node": 1})),
        runs_dir=tmp_path / "one",
    )
    assert one.run() == "completed"
    alone = RunStore(tmp_path / "one").get(one.run_id).metrics
    for ours, single in zip(record.metrics, alone, strict=True):
        assert abs(ours["train_loss"] - single["train_loss"]) <= 1e-5 * single["train_loss"]


@pytest.mark.slow
def test_cancel_reaches_every_rank_and_the_run_ends_cancelled(tmp_path):
    runs = tmp_path / "runs"
    with running_engine(runs) as client, client.subscribe() as updates:
        queue_id = client.submit_run(tiny_config(epochs=50_000, **TWO))["queue_id"]
        collect(updates, lambda u: isinstance(u.event, BatchProgress), timeout=300)
        assert client.cancel(queue_id)["was"] == "running"
        seen = _events(collect(updates, finished(queue_id), timeout=120), queue_id)
    assert seen[-1].status == "cancelled"
    [run_id] = seen[-1].run_ids
    record = RunStore(runs).get(run_id)
    assert record.status == "cancelled" and (record.path / "last.pt").is_file()


def test_a_run_over_n_gpus_holds_n_gpu_lanes_and_on_the_cpu_shares_one():
    assert lanes_needed(4, "cuda:0") == 4 and lanes_needed(4, "cpu") == 1
    assert rank_threads(2, Slot("cpu", "cpu", 6)) == 3
    assert rank_threads(4, Slot("cpu-1", "cpu", 1)) == 1
    gpus = [LaneSpec(f"cuda:{i}", f"cuda:{i}") for i in range(2)]
    lanes = LaneSet(lambda job: ("completed", None, []), lambda *a: None, gpus, on_demand=False)
    assert lanes.refusal("cuda", 2) is None
    assert "needs 4 GPU lanes; this engine has 2" in lanes.refusal("auto", 4)
    cpu = LaneSet(lambda job: None, lambda *a: None, [LaneSpec("cpu", "cpu")], on_demand=False)
    assert cpu.refusal("cpu", 8) is None  # its ranks share the CPU lane's threads
    entry = QueueEntry(queue_id="q1", kind="run", config={"nproc_per_node": 3})
    job = ActiveJob(entry, Slot("cuda:0", "cuda:0"))
    assert entry_processes(entry) == 3 and job.gang == 3 and job.wants_lanes()
    job.lanes += ["cuda:0", "cuda:1", "cuda:2"]
    assert not job.wants_lanes()  # it has all it needs before it is even built
    assert ActiveJob(entry, Slot("cpu", "cpu")).gang == 1


def test_a_config_over_several_processes_is_checked_and_never_trains_in_one(
    tmp_path: Path, monkeypatch
):
    monkeypatch.setattr("engine.trainer.device.device_problem", lambda device: None)  # a GPU
    errors = TrainConfig(nproc_per_node=2, device="cuda:1").validate()
    assert "not cuda:1" in errors["nproc_per_node"]
    errors = TrainConfig(nproc_per_node=8, batch_size=10).validate()
    assert "--batch-size 16 or more" in errors["batch_size"]
    assert "nproc_per_node" in TrainConfig(nproc_per_node=0).validate()
    with pytest.raises(ConfigError, match="launches them"):
        Trainer(TrainConfig(nproc_per_node=2, device="cpu"), runs_dir=tmp_path)


def test_a_sweep_point_over_several_processes_is_refused_at_submission(tmp_path):
    base = TrainConfig.from_dict(tiny_config(batch_size=20))
    spec = SweepSpec(base, {"nproc_per_node": [1, 2]})
    entry = QueueEntry(queue_id="", kind="sweep", sweep=spec.to_dict())
    with pytest.raises(ConfigError) as refused:
        check_entry(entry, tmp_path)
    [(key, message)] = refused.value.errors.items()
    assert key.startswith("nproc_per_node") and "each point in one process" in message


@pytest.mark.slow
def test_an_engine_stopped_mid_run_leaves_it_resumable_on_two_processes(tmp_path):
    runs = tmp_path / "runs"
    with running_engine(runs) as client, client.subscribe() as updates:
        client.submit_run(tiny_config(epochs=50_000, **TWO))
        collect(updates, lambda u: isinstance(u.event, EpochEnd), timeout=300)
        stop_engine(runs)  # SIGTERM: the engine interrupts its runs before it exits
    [record] = RunStore(runs).list_runs()
    assert record.status == "interrupted" and (record.path / "last.pt").is_file()
    done = len(record.metrics)
    with running_engine(runs) as client, client.subscribe() as updates:
        queue_id = client.submit_resume(record.run_id, done + 1)["queue_id"]
        seen = _events(collect(updates, finished(queue_id), timeout=300), queue_id)
    assert seen[-1].status == "completed" and seen[-1].run_ids == [record.run_id]
    record = RunStore(runs).get(record.run_id)
    assert len(record.metrics) == done + 1 and "2 processes (gloo)" in record.summary["device"]


def test_a_run_gathering_its_gpu_lanes_says_so_in_the_queue_listings():
    from cnnlab_tui.queue_items import QueuedRun
    from engine.cli.engine_common import progress_text

    view = {"queue_id": "q4", "state": "running", "lane": "cuda:1", "waiting_for_lanes": 1}
    assert progress_text(view) == "waiting for 1 more GPU lane"
    assert progress_text({**view, "waiting_for_lanes": 3}) == "waiting for 3 more GPU lanes"
    assert progress_text({"state": "running", "epochs": 4, "epoch": 1}) == "epoch 1/4 done"
    run = QueuedRun("q4", {})
    run.show(view)
    assert run.waiting_for_lanes == 1 and run.lane == "cuda:1"
    run.show({**view, "waiting_for_lanes": 0})
    assert run.waiting_for_lanes == 0


@pytest.mark.slow
def test_an_engine_killed_outright_takes_its_run_down_as_interrupted(tmp_path):
    """SIGKILL leaves the engine no time to stop anything: the launcher notices its engine
    is gone and stops the ranks, so no orphan trains on (and holds GPUs) unseen."""
    import json
    import os
    import signal

    from engine_helpers import engine_pid, wait_for

    runs = tmp_path / "runs"
    with running_engine(runs) as client, client.subscribe() as updates:
        client.submit_run(tiny_config(epochs=50_000, **TWO))
        collect(updates, lambda u: isinstance(u.event, EpochEnd), timeout=300)
        os.kill(engine_pid(runs), signal.SIGKILL)
    [run_dir] = [p for p in runs.iterdir() if (p / "summary.json").is_file()]

    def written_status() -> str | None:
        summary = json.loads((run_dir / "summary.json").read_text())
        return summary.get("status") if summary.get("status") != "running" else None

    assert wait_for(written_status, "the ranks to end the run", timeout=60) == "interrupted"
    rank0 = json.loads((run_dir / "summary.json").read_text())["pid"]
    wait_for(lambda: not Path(f"/proc/{rank0}").exists(), "rank 0 to exit", timeout=60)
    assert (run_dir / "last.pt").is_file()
