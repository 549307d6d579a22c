"""A run's folder exists from the moment it starts, so the runs list shows every run —
including one whose data never loads (failed) or that is cancelled while loading."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from test_trainer import run_collecting
from test_trainer import tiny as trainer_tiny

from engine.errors import DatasetError, RunStoreError
from engine.events import Log, RunFinished, RunStarted
from engine.runs import RunStore, RunWriter, SummaryTracker
from engine.trainer.config import TrainConfig
from engine.trainer.loop import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")  # one torch thread: see conftest


def tiny(**changes) -> TrainConfig:
    """test_trainer's tiny config, smaller still: these tests look at files, not learning."""
    smaller = {"model_options": {"widths": [4, 8]}, "epochs": 1, "max_train_batches": 2}
    return trainer_tiny(**{**smaller, **changes})


def read_summary(run_dir) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def test_the_folder_says_running_while_the_data_loads(tmp_path, monkeypatch):
    seen = {}

    def load_data(config, progress=None):
        seen["summary"] = read_summary(trainer.run_dir)
        seen["config"] = json.loads((trainer.run_dir / "config.json").read_text())
        seen["listed"] = [(r.run_id, r.status) for r in RunStore(tmp_path).list_runs()]
        raise DatasetError("no images in /nowhere")

    monkeypatch.setattr("engine.trainer.loop.load_data", load_data)
    trainer = Trainer(tiny(), runs_dir=tmp_path)
    trainer.run()
    summary = seen["summary"]
    assert summary["status"] == "running" and summary["error"] is None
    assert summary["task"] == "classify" and summary["epochs_completed"] == 0
    assert seen["config"] == trainer.config.to_dict()
    assert seen["listed"] == [(trainer.run_id, "running")]


def test_a_data_error_is_recorded_as_a_failed_run(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    trainer = Trainer(tiny(dataset="folder", data_root=str(empty)), runs_dir=tmp_path / "runs")
    events = run_collecting(trainer)
    assert not any(isinstance(e, RunStarted) for e in events)
    finished = events[-1]
    assert trainer.status == "failed" and isinstance(finished, RunFinished)
    assert "no data set found" in finished.error and "Traceback" not in finished.error
    assert isinstance(trainer.error, DatasetError)

    [record] = RunStore(tmp_path / "runs").list_runs()
    assert record.run_id == trainer.run_id and record.damaged is None
    assert record.status == "failed" and record.summary["error"] == finished.error
    assert record.task == "classify" and record.config["dataset"] == "folder"
    assert record.summary["finished_at"] and record.metrics == []
    log = (trainer.run_dir / "run.log").read_text()
    assert "ERROR" in log and "no data set found" in log and "Traceback" not in log
    assert not (trainer.run_dir / "last.pt").exists()


def test_a_cancel_during_decoding_stops_it_and_records_a_cancelled_run(tmp_path):
    root = tmp_path / "tiny"
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(4):
            pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / label / f"{i}.png")
    trainer = Trainer(tiny(dataset="folder", data_root=str(root)), runs_dir=tmp_path / "runs")
    trainer.cancel()  # already set when decoding reports its first progress
    events = run_collecting(trainer)
    assert trainer.status == "cancelled" and trainer.error is None
    assert not any(isinstance(e, RunStarted) for e in events)
    assert not any(isinstance(e, Log) and e.message.startswith("data:") for e in events)
    [record] = RunStore(tmp_path / "runs").list_runs()
    assert record.status == "cancelled" and record.summary["error"] is None
    assert not (root / ".cnnlab-cache").exists() or not any((root / ".cnnlab-cache").iterdir())


def test_a_cancel_right_after_loading_runs_no_epoch(tmp_path):
    trainer = Trainer(tiny(), runs_dir=tmp_path)
    trainer.cancel()  # built-in sets report no progress: the check after loading stops it
    assert trainer.run() == "cancelled"
    assert trainer.summary["status"] == "cancelled" and trainer.summary["epochs_completed"] == 0
    assert read_summary(trainer.run_dir)["status"] == "cancelled"
    assert not (trainer.run_dir / "last.pt").exists()


def test_an_unwritable_runs_folder_fails_the_run_with_a_message(tmp_path):
    blocker = tmp_path / "runs"
    blocker.write_text("a file where the runs folder should be")
    trainer = Trainer(tiny(), runs_dir=blocker)
    assert trainer.run() == "failed"
    assert isinstance(trainer.error, RunStoreError)
    assert "cannot create the run folder" in trainer.summary["error"]
    with pytest.raises(RunStoreError, match="already exists"):
        RunWriter(tmp_path, SummaryTracker("x", {})).create()


def test_a_completed_run_keeps_the_time_its_folder_was_made(tmp_path, monkeypatch):
    from engine.trainer import loop

    ticks = iter(range(10_000))
    monkeypatch.setattr(
        "engine.runs.summary.now_iso", lambda: f"2025-01-01T00:{next(ticks):05d}+00:00"
    )
    real_load, seen = loop.load_data, {}

    def load_data(config, progress=None):
        seen["created"] = read_summary(trainer.run_dir)["started_at"]
        return real_load(config, progress)

    monkeypatch.setattr(loop, "load_data", load_data)
    trainer = Trainer(tiny(), runs_dir=tmp_path)
    assert trainer.run() == "completed"
    summary = read_summary(trainer.run_dir)
    assert summary["started_at"] == seen["created"] < summary["finished_at"]
    assert summary["status"] == "completed" and summary["num_train"] == 2400
    assert summary["params"] > 0 and summary["epochs_completed"] == 1


def test_a_resumed_run_reports_the_summary_its_folder_holds(tmp_path):
    """One summary per run: what RunFinished carries (and `trainer.summary`) is what
    summary.json says, first start included, also after a resume."""
    first = Trainer(tiny(), runs_dir=tmp_path)
    assert first.run() == "completed"
    started = read_summary(first.run_dir)["started_at"]
    assert first.summary == read_summary(first.run_dir)
    resumed = Trainer(tiny(epochs=2), runs_dir=tmp_path, resume=first.run_id)
    finished = [e for e in run_collecting(resumed) if isinstance(e, RunFinished)]
    on_disk = read_summary(resumed.run_dir)
    assert finished[0].summary == resumed.summary == on_disk
    assert on_disk["started_at"] == started and on_disk["epochs_completed"] == 2
