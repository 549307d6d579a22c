"""Lanes: planned from --devices / --cpu-lanes and the machine's device count (injected here
to describe GPUs this machine lacks), placement of runs on them, and — for real, in an
engine process with two CPU lanes — two runs training at once and a sweep fanning out."""

from __future__ import annotations

import os

import pytest
import torch
from engine_helpers import collect, finished, running_engine, tiny_config, wait_for

from engine.runs import RunStore
from engine.service.lanes import LaneSet, LaneSpec, plan_lanes
from engine.service.paths import EngineError
from engine.sweeps import PointStarted, build_spec, load_state
from engine.trainer.config import TrainConfig


def _names(lanes):
    return [(lane.name, lane.device, lane.threads) for lane in lanes]


def test_cpu_only_machines_get_one_lane_or_split_their_cores():
    assert _names(plan_lanes(cuda_count=0, cores=2)) == [("cpu", "cpu", None)]
    assert _names(plan_lanes("auto", 2, cuda_count=0, cores=2)) == [
        ("cpu-1", "cpu", 1),
        ("cpu-2", "cpu", 1),
    ]
    assert _names(plan_lanes("cpu", 3, cuda_count=0, cores=8)) == [
        ("cpu-1", "cpu", 2),
        ("cpu-2", "cpu", 2),
        ("cpu-3", "cpu", 2),
    ]
    with pytest.raises(EngineError, match="over-subscribe this machine's 2 core"):
        plan_lanes("cpu", 3, cuda_count=0, cores=2)
    with pytest.raises(EngineError, match="at least 1"):
        plan_lanes("cpu", 0, cuda_count=0, cores=2)


def test_one_lane_per_gpu_limited_by_devices():
    four = dict(cuda_count=4, cores=16)
    assert _names(plan_lanes(**four)) == [(f"cuda:{i}", f"cuda:{i}", 4) for i in range(4)]
    assert [lane.name for lane in plan_lanes("all", **four)] == [f"cuda:{i}" for i in range(4)]
    assert _names(plan_lanes("cuda:0,cuda:2", **four)) == [
        ("cuda:0", "cuda:0", 8),
        ("cuda:2", "cuda:2", 8),
    ]
    mixed = plan_lanes("all,cpu", 2, **four)
    assert [lane.name for lane in mixed] == [*(f"cuda:{i}" for i in range(4)), "cpu-1", "cpu-2"]
    assert {lane.threads for lane in mixed} == {16 // 6}
    assert _names(plan_lanes("cuda:1", **four)) == [("cuda:1", "cuda:1", None)]
    with pytest.raises(EngineError, match="there is no cuda:5"):
        plan_lanes("cuda:0,cuda:5", **four)
    with pytest.raises(EngineError, match="named twice"):
        plan_lanes("cuda:0,cuda:0", **four)
    with pytest.raises(EngineError, match="no CUDA device"):
        plan_lanes("all", cuda_count=0, cores=2)
    with pytest.raises(EngineError, match="no CPU lane"):
        plan_lanes("all", 2, **four)
    with pytest.raises(EngineError, match="unknown device"):
        plan_lanes("tpu", **four)


def _lane_set(specs, on_demand=False):
    return LaneSet(lambda job: ("completed", None, []), lambda *a: None, specs, on_demand=on_demand)


def test_placement_auto_goes_anywhere_pinned_runs_wait_for_their_lane():
    lanes = _lane_set(plan_lanes(cuda_count=2, cores=8))
    assert [lane.name for lane in lanes.candidates("auto")] == ["cuda:0", "cuda:1"]
    assert [lane.name for lane in lanes.candidates("cuda")] == ["cuda:0", "cuda:1"]
    assert [lane.name for lane in lanes.candidates("cuda:1")] == ["cuda:1"]
    assert lanes.text_for("auto") == "cuda:0|cuda:1"
    lanes.lanes["cuda:0"].job = object()  # busy
    assert lanes.free_for("auto").name == "cuda:1"
    assert lanes.free_for("cuda:0") is None
    assert "no lane for device cpu" in lanes.refusal("cpu")
    assert lanes.refusal("cuda:1") is None


def test_auto_engines_make_a_lane_for_another_device_of_this_machine():
    lanes = _lane_set([LaneSpec("cuda:0", "cuda:0")], on_demand=True)
    assert [lane.name for lane in lanes.candidates("cpu")] == ["cpu"]
    assert set(lanes.lanes) == {"cuda:0", "cpu"}
    cpu_only = _lane_set(plan_lanes("cpu", 2, cuda_count=0, cores=2), on_demand=True)
    assert [lane.name for lane in cpu_only.candidates("auto")] == ["cpu-1", "cpu-2"]
    assert cpu_only.refusal("cuda:3") is not None  # this machine has no such GPU


@pytest.fixture
def one_thread():
    before = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"  # the engine inherits it
    yield
    if before is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = before


@pytest.mark.slow
def test_two_cpu_lanes_train_two_runs_at_once_and_fan_a_sweep_out(tmp_path, one_thread):
    runs = tmp_path / "runs"
    with running_engine(runs, cpu_lanes=2) as client:
        assert [(lane["name"], lane["threads"]) for lane in client.status()["lanes"]] == [
            ("cpu-1", 1),
            ("cpu-2", 1),
        ]
        with client.subscribe() as updates:
            first = client.submit_run(tiny_config(epochs=300))["queue_id"]
            second = client.submit_run(tiny_config(epochs=300))["queue_id"]
            third = client.submit_run(tiny_config(epochs=1))["queue_id"]
            views = {v["queue_id"]: v for v in client.entries()}
            assert views[first]["state"] == views[second]["state"] == "running"
            assert {views[first]["lane"], views[second]["lane"]} == {"cpu-1", "cpu-2"}
            assert views[third]["state"] == "queued" and views[third]["lane"] == "cpu-1|cpu-2"
            client.cancel(first)
            collect(updates, finished(first))
            wait_for(
                lambda: any(v["queue_id"] == third and v["state"] == "running"
                            for v in client.entries()),
                "the third run to take the freed lane",
            )  # fmt: skip
            client.cancel(second)
            collect(updates, finished(third))
            spec = build_spec(TrainConfig(**tiny_config(epochs=2)), {"lr": [1e-3, 2e-3, 3e-3]}, [0])
            sweep = client.submit_sweep(spec.to_dict())["queue_id"]
            later = client.submit_run(tiny_config(epochs=1))["queue_id"]
            both = wait_for(
                lambda: next(v for v in client.entries() if v["queue_id"] == sweep)["lanes"]
                == ["cpu-1", "cpu-2"] or None,
                "the sweep to hold both lanes",
            )  # fmt: skip
            assert both
            got = collect(updates, finished(later))
            if not any(finished(sweep)(u) for u in got):
                got += collect(updates, finished(sweep))
    starts = [u.event for u in got if isinstance(u.event, PointStarted)]
    assert {s.lane for s in starts} == {"cpu-1", "cpu-2"}
    ends = {u.queue_id: u.event for u in got if type(u.event).__name__ == "EntryFinished"}
    assert ends[sweep].status == "completed" and len(ends[sweep].run_ids) == 3
    assert ends[later].status == "completed"
    # the run queued behind the sweep started only once the sweep had no point left for it
    order = [u.queue_id for u in got if type(u.event).__name__ == "EntryStarted"]
    assert order.index(sweep) < order.index(later)
    state = load_state(runs, spec.sweep_id)
    assert [len(p.attempts) for p in state.points] == [1, 1, 1]
    store = RunStore(runs)
    assert all(store.get(p.run_id).status == "completed" for p in state.points)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_lanes_train_a_sweep_on_every_gpu_and_record_gpu_figures(tmp_path):
    runs, count = tmp_path / "runs", torch.cuda.device_count()
    with running_engine(runs, devices="all") as client:
        lanes = [lane["name"] for lane in client.status()["lanes"]]
        assert lanes == [f"cuda:{i}" for i in range(count)]
        spec = build_spec(
            TrainConfig(**tiny_config(device="cuda", max_train_batches=20)),
            {"lr": [1e-3 * (i + 1) for i in range(2 * count)]}, [0],
        )  # fmt: skip
        with client.subscribe() as updates:
            sweep = client.submit_sweep(spec.to_dict())["queue_id"]
            got = collect(updates, finished(sweep))
    assert {u.event.lane for u in got if isinstance(u.event, PointStarted)} == set(lanes)
    store = RunStore(runs)
    for point in load_state(runs, spec.sweep_id).points:
        run = store.get(point.run_id)
        assert run.status == "completed"
        rows = (run.path / "metrics.jsonl").read_text().splitlines()
        assert all('"gpu_memory_peak_mib"' in row for row in rows), rows
