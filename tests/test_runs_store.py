"""RunWriter and RunStore: atomic files, tolerant reading, interrupted runs, compare rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from run_events import run_recorder

from engine.errors import RunStoreError
from engine.events import EpochEnd, Log, RunFinished, RunStarted, Samples
from engine.runs import RunStore, new_run_id, read_run
from engine.runs.compare import (
    curve_metrics,
    default_metric,
    differing_fields,
    final_metrics,
    metric_series,
)
from engine.runs.files import read_json_lines, write_json_atomic


def _started(run_dir, run_id="r1", config=None, history=(), task="classify"):
    config = config or {"dataset": "shapes", "model": "conv", "epochs": 3, "lr": 0.001}
    return RunStarted(
        run_id=run_id,
        config=config,
        run_dir=str(run_dir),
        task=task,
        device="cpu",
        params=1234,
        classes=["a", "b"],
        num_train=10,
        num_test=4,
        epochs=config["epochs"],
        start_epoch=len(history),
        history=list(history),
    )


def _row(epoch, acc, loss=1.0):
    return {
        "epoch": epoch,
        "train_loss": loss,
        "train_acc": acc,
        "test_loss": loss,
        "test_acc": acc,
        "seconds": 2.0,
        "images_per_second": 5.0,
        "confusion": [[1, 1], [0, 2]],
        "per_class_acc": [0.5, 1.0],
    }


def _write_run(root, run_id, accs, status="completed", config=None):
    run_dir = root / run_id
    started = _started(run_dir, run_id, config=config)
    record = run_recorder(run_dir, run_id, started.config)
    record(started)
    for epoch, acc in enumerate(accs, start=1):
        record(EpochEnd(run_id, epoch, _row(epoch, acc)))
    if status != "running":
        record(RunFinished(run_id, status, None, {}))
    return run_dir


def test_writer_lays_out_folder_and_summary(tmp_path):
    run_dir = _write_run(tmp_path, "r1", [0.5, 0.9, 0.7])
    assert json.loads((run_dir / "config.json").read_text())["lr"] == 0.001
    rows, problem = read_json_lines(run_dir / "metrics.jsonl")
    assert problem is None and [r["epoch"] for r in rows] == [1, 2, 3]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["epochs_completed"] == 3
    assert summary["best"]["epoch"] == 2 and summary["best"]["test_acc"] == 0.9
    assert summary["final"]["test_acc"] == 0.7
    assert summary["train_seconds"] == 6.0 and summary["images_per_second"] == 5.0
    assert summary["classes"] == ["a", "b"] and summary["confusion"] == [[1, 1], [0, 2]]
    for key in (
        "run_id",
        "task",
        "dataset",
        "model",
        "config",
        "params",
        "device",
        "torch_version",
        "error",
        "pid",
        "host",
    ):
        assert key in summary, key
    assert not list(run_dir.glob(".*.tmp")), "temporary files must be renamed away"


def test_writer_logs_and_samples_and_nan(tmp_path):
    run_dir = tmp_path / "r1"
    started = _started(run_dir, task="dehaze")
    writer = run_recorder(run_dir, "r1", started.config)
    writer(started)
    writer(Log("r1", "warning", "hello there"))
    writer(Samples("r1", 1, [str(run_dir / "samples" / "epoch001_0_a.png")]))
    writer(EpochEnd("r1", 1, {"epoch": 1, "train_loss": float("nan"), "test_psnr": 20.0}))
    assert "WARNING hello there" in (run_dir / "run.log").read_text()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["samples"] == ["samples/epoch001_0_a.png"]
    assert summary["best"]["test_psnr"] == 20.0
    line = (run_dir / "metrics.jsonl").read_text()
    assert '"train_loss": null' in line  # strict JSON: NaN is written as null


def test_resumed_writer_trims_metrics_and_keeps_start_time(tmp_path):
    run_dir = _write_run(tmp_path, "r1", [0.5, 0.6, 0.7], status="cancelled")
    started = json.loads((run_dir / "summary.json").read_text())["started_at"]
    resumed = _started(run_dir, history=[_row(1, 0.5), _row(2, 0.6)])
    # the trainer hands the first start on (engine.trainer.resume.ResumePlan.started_at)
    writer = run_recorder(run_dir, "r1", resumed.config, started_at=started)
    writer(resumed)
    writer(EpochEnd("r1", 3, _row(3, 0.8)))
    record = read_run(run_dir)
    assert [r["test_acc"] for r in record.metrics] == [0.5, 0.6, 0.8]
    assert record.summary["started_at"] == started
    assert record.summary["epochs_completed"] == 3


def test_store_lists_newest_first_and_tolerates_damage(tmp_path):
    _write_run(tmp_path, "20240101-000000-conv-shapes-aaaa", [0.5])
    _write_run(tmp_path, "20240102-000000-conv-shapes-bbbb", [0.6])
    bad_json = tmp_path / "20240103-000000-conv-shapes-cccc"
    bad_json.mkdir()
    (bad_json / "summary.json").write_text("{not json")
    (tmp_path / "20240104-000000-conv-shapes-dddd").mkdir()  # no files at all
    bad_metrics = _write_run(tmp_path, "20240105-000000-conv-shapes-eeee", [0.5])
    with open(bad_metrics / "metrics.jsonl", "a") as handle:
        handle.write("garbage\n")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "sweeps").mkdir()  # engine.sweeps state, not a run
    (tmp_path / "stray.txt").write_text("x")

    records = RunStore(tmp_path).list_runs()
    assert [r.run_id[-4:] for r in records] == ["eeee", "dddd", "cccc", "bbbb", "aaaa"]
    by_id = {r.run_id[-4:]: r for r in records}
    assert by_id["aaaa"].status == "completed" and by_id["aaaa"].damaged is None
    for key in ("cccc", "dddd", "eeee"):
        assert by_id[key].status == "damaged" and by_id[key].damaged
    assert "summary.json" in by_id["cccc"].damaged
    assert "line 2" in by_id["eeee"].damaged
    assert len(by_id["eeee"].metrics) == 1  # the intact epoch is still there


def test_sweep_state_and_hidden_entries_are_never_runs(tmp_path):
    """`sweeps/` holds engine.sweeps state and dot-entries belong to tools (the dashboard's
    log, caches): none may show up as a (damaged) run or be picked as `latest`."""
    run = _write_run(tmp_path, "20240101-000000-conv-shapes-aaaa", [0.5])
    sweeps = tmp_path / "sweeps"
    sweeps.mkdir()
    write_json_atomic(sweeps / "sweep-conv-0123456789.json", {"points": []})
    (sweeps / "summary.json").write_text('{"status": "completed"}')  # even if it looks like one
    hidden = tmp_path / ".zz-cache"  # sorts after every run id
    hidden.mkdir()
    (hidden / "summary.json").write_text('{"status": "completed"}')
    (tmp_path / ".cnnlab-dashboard.log").write_text("log line\n")

    store = RunStore(tmp_path)
    assert [r.run_id for r in store.list_runs()] == [run.name]
    assert store.run_dirs() == [run]
    assert store.resolve("latest") == run
    for name in ("sweeps", ".zz-cache"):
        with pytest.raises(RunStoreError, match="no run"):
            store.get(name)


def test_torn_last_line_is_dropped_not_damaged(tmp_path):
    run_dir = _write_run(tmp_path, "r1", [0.5, 0.6])
    with open(run_dir / "metrics.jsonl", "a") as handle:
        handle.write('{"epoch": 3, "test_')
    record = read_run(run_dir)
    assert record.damaged is None and len(record.metrics) == 2


def test_unknown_status_is_damaged(tmp_path):
    run_dir = _write_run(tmp_path, "r1", [0.5])
    summary = json.loads((run_dir / "summary.json").read_text())
    write_json_atomic(run_dir / "summary.json", {**summary, "status": "weird"})
    assert read_run(run_dir).status == "damaged"


def test_running_summary_of_dead_process_reads_interrupted(tmp_path):
    run_dir = _write_run(tmp_path, "r1", [0.5, 0.6], status="running")
    assert read_run(run_dir).status == "running"  # this very process wrote it
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    summary = json.loads((run_dir / "summary.json").read_text())
    write_json_atomic(run_dir / "summary.json", {**summary, "pid": dead.pid})
    record = read_run(run_dir)
    assert record.status == "interrupted"
    assert len(record.metrics) == 2
    other_host = {**summary, "pid": dead.pid, "host": "elsewhere"}
    write_json_atomic(run_dir / "summary.json", other_host)
    assert read_run(run_dir).status == "running"  # cannot know about another machine


def test_resolve_get_and_delete(tmp_path):
    _write_run(tmp_path, "20240101-000000-conv-shapes-aaaa", [0.5])
    _write_run(tmp_path, "20240102-000000-mlp-shapes-bbbb", [0.6])
    store = RunStore(tmp_path)
    assert store.get("20240101").run_id.endswith("aaaa")
    assert store.get("mlp").run_id.endswith("bbbb")
    assert store.get("latest").run_id.endswith("bbbb")
    assert store.get(str(tmp_path / "20240101-000000-conv-shapes-aaaa")).status == "completed"
    with pytest.raises(RunStoreError, match="matches 2 runs"):
        store.get("2024")
    with pytest.raises(RunStoreError, match="no run"):
        store.get("nope")
    store.delete("aaaa")
    assert [r.run_id[-4:] for r in store.list_runs()] == ["bbbb"]
    running = _write_run(tmp_path, "20240103-000000-conv-shapes-cccc", [0.5], status="running")
    with pytest.raises(RunStoreError, match="still running"):
        store.delete(running.name)


def test_missing_root_lists_nothing(tmp_path):
    assert RunStore(tmp_path / "absent").list_runs() == []


def test_default_root_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLAB_RUNS", str(tmp_path))
    assert RunStore().root == tmp_path


def test_run_ids_sort_by_time_and_read_well(tmp_path):
    run_id = new_run_id("ResNet-18", "my data", tmp_path)
    stamp, model, dataset, tail = run_id[:15], *run_id[16:].rsplit("-", 2)
    assert stamp[8] == "-" and stamp.replace("-", "").isdigit()
    assert (model, dataset) == ("resnet_18", "my_data")
    assert len(tail) == 4 and int(tail, 16) >= 0


def test_compare_rows(tmp_path):
    base = {
        "dataset": "shapes",
        "model": "conv",
        "epochs": 3,
        "lr": 0.001,
        "model_options": {"widths": [8, 16]},
        "name": "a",
    }
    _write_run(tmp_path, "r1", [0.5, 0.7], config=base)
    other = {**base, "lr": 0.01, "model_options": {"widths": [8]}, "name": "b"}
    _write_run(tmp_path, "r2", [0.6, 0.65, 0.9], config=other)
    store = RunStore(tmp_path)
    records = [store.get("r1"), store.get("r2")]
    assert differing_fields(records) == [
        ("lr", [0.001, 0.01]),
        ("model_options.widths", [[8, 16], [8]]),
    ]
    finals = dict(final_metrics(records))
    assert finals["best test_acc"] == [0.7, 0.9]
    assert finals["epochs"] == [2, 3]
    assert "best test_psnr" not in finals
    assert default_metric(records) == "test_acc"
    assert metric_series(records[1], "test_acc") == ([1, 2, 3], [0.6, 0.65, 0.9])
    assert "confusion" not in curve_metrics(records) and "test_acc" in curve_metrics(records)


def test_atomic_write_leaves_old_file_when_serialising_fails(tmp_path):
    target = tmp_path / "summary.json"
    write_json_atomic(target, {"a": 1})
    with pytest.raises(TypeError):
        write_json_atomic(target, {"a": object()})
    assert json.loads(target.read_text()) == {"a": 1}
    assert os.listdir(tmp_path) == ["summary.json"]
