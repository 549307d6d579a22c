"""The training loop end to end on tiny data: learning, events, files, determinism, cancel,
resume, divergence and failures."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from engine.errors import ConfigError, RunStoreError
from engine.events import BatchProgress, EpochEnd, Log, RunFinished, RunStarted, Samples
from engine.runs import RunStore
from engine.trainer.config import TrainConfig
from engine.trainer.loop import Trainer

TIMING_KEYS = ("seconds", "images_per_second")


pytestmark = pytest.mark.usefixtures("one_thread")  # one torch thread: see conftest


@pytest.fixture
def noise_set(tmp_path):
    """A tiny class-folder data set of pure noise: learnable only by memorising it."""
    root = tmp_path / "noise"
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(16):
            pixels = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / label / f"{label}{i:02d}.png")
    return root


def tiny(**changes) -> TrainConfig:
    base = TrainConfig(
        dataset="shapes",
        image_size=16,
        model="conv",
        model_options={"widths": [8, 16]},
        epochs=2,
        batch_size=50,
        device="cpu",
        max_train_batches=4,
    )
    return base.replace(**changes)


def run_collecting(trainer: Trainer) -> list:
    events: list = []
    trainer.subscribe(events.append)
    trainer.run()
    return events


def without_timing(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in rows]


def test_overfits_a_tiny_set(noise_set, tmp_path):
    config = tiny(
        dataset="folder",
        data_root=str(noise_set),
        model_options={"widths": [16, 32]},
        epochs=15,
        batch_size=32,
        lr=1e-2,
        max_train_batches=None,
    )
    trainer = Trainer(config, runs_dir=tmp_path / "runs")
    rows = [e.metrics for e in run_collecting(trainer) if isinstance(e, EpochEnd)]
    assert trainer.status == "completed"
    assert rows[-1]["train_acc"] == 1.0
    assert rows[-1]["train_loss"] < rows[0]["train_loss"] / 10
    assert len(rows[-1]["confusion"]) == 2 and sum(map(sum, rows[-1]["confusion"])) == 8


def test_events_and_run_folder(tmp_path):
    trainer = Trainer(tiny(), runs_dir=tmp_path)
    events = run_collecting(trainer)
    kinds = [type(e) for e in events if not isinstance(e, (Log, BatchProgress))]
    assert kinds == [RunStarted, EpochEnd, EpochEnd, RunFinished]
    assert all(e.run_id == trainer.run_id for e in events)
    started = next(e for e in events if isinstance(e, RunStarted))
    assert (started.task, started.classes, started.num_train) == (
        "classify",
        ["circle", "square", "triangle"],
        2400,
    )
    progress = [e for e in events if isinstance(e, BatchProgress)]
    assert progress and all(e.num_batches == 4 and 1 <= e.batch <= 4 for e in progress)
    assert progress[-1].batch == 4 and progress[-1].eta_seconds == pytest.approx(0, abs=1e-6)
    metrics = [e for e in events if isinstance(e, EpochEnd)][-1].metrics
    for key in (
        "epoch",
        "train_loss",
        "train_acc",
        "test_loss",
        "test_acc",
        "lr",
        "seconds",
        "images_per_second",
        "per_class_acc",
        "confusion",
    ):
        assert key in metrics, key
    finished = events[-1]
    assert finished.status == "completed" and finished.error is None
    run_dir = trainer.run_dir
    assert run_dir.parent == tmp_path and run_dir.name.split("-")[2:4] == ["conv", "shapes"]
    for name in ("config.json", "summary.json", "metrics.jsonl", "last.pt", "best.pt", "run.log"):
        assert (run_dir / name).is_file(), name
    on_disk = json.loads((run_dir / "summary.json").read_text())
    assert on_disk["status"] == "completed" and on_disk["epochs_completed"] == 2
    assert on_disk["best"]["test_acc"] == finished.summary["best"]["test_acc"]
    assert on_disk["params"] == started.params > 0


def test_same_seed_same_metrics_other_seed_differs(tmp_path):
    first = Trainer(tiny(), runs_dir=tmp_path)
    first.run()
    second = Trainer(tiny(), runs_dir=tmp_path)
    second.run()
    other = Trainer(tiny(seed=1, augmentation="crop_flip"), runs_dir=tmp_path)
    other.run()
    rows = [
        without_timing(RunStore(tmp_path).get(t.run_id).metrics) for t in (first, second, other)
    ]
    assert rows[0] == rows[1]
    assert rows[0] != rows[2]


def test_cancel_stops_within_a_batch_and_keeps_finished_epochs(tmp_path):
    trainer = Trainer(tiny(epochs=5, batch_size=10, max_train_batches=None), runs_dir=tmp_path)
    after_cancel: list = []

    def cancel_in_epoch_two(event):
        if trainer._cancel.is_set():
            after_cancel.append(event)
        elif isinstance(event, BatchProgress) and event.epoch == 2:
            trainer.cancel()

    trainer.subscribe(cancel_in_epoch_two)
    trainer.start()
    assert trainer.join(timeout=120)
    assert trainer.status == "cancelled"
    assert [type(e) for e in after_cancel if not isinstance(e, Log)] == [RunFinished]
    record = RunStore(tmp_path).get(trainer.run_id)
    assert record.status == "cancelled" and record.summary["epochs_completed"] == 1
    assert [r["epoch"] for r in record.metrics] == [1]


def test_interrupt_records_the_reason_keeps_the_checkpoint_and_resumes(tmp_path):
    """What SIGTERM / SIGHUP do to a run (through `interrupt`): it stops at a batch boundary
    and ends `interrupted` with the reason, its finished epoch resumable."""
    trainer = Trainer(tiny(epochs=3), runs_dir=tmp_path)

    def interrupt_in_epoch_two(event):
        if isinstance(event, BatchProgress) and event.epoch == 2:
            trainer.interrupt("interrupted by SIGTERM")
            trainer.cancel()  # a cancel after it keeps the first reason

    trainer.subscribe(interrupt_in_epoch_two)
    assert trainer.run() == "interrupted"
    record = RunStore(tmp_path).get(trainer.run_id)
    assert record.status == "interrupted" and record.summary["error"] == "interrupted by SIGTERM"
    assert [r["epoch"] for r in record.metrics] == [1] and (record.path / "last.pt").is_file()
    log = (record.path / "run.log").read_text()
    assert "finished: interrupted (interrupted by SIGTERM)" in log
    assert Trainer(None, runs_dir=tmp_path, resume=trainer.run_id).run() == "completed"
    assert [r["epoch"] for r in RunStore(tmp_path).get(trainer.run_id).metrics] == [1, 2, 3]


def test_batch_progress_carries_each_batch_own_loss_into_batches_jsonl(tmp_path):
    trainer = Trainer(tiny(epochs=1), runs_dir=tmp_path)
    progress = [e for e in run_collecting(trainer) if isinstance(e, BatchProgress)]
    assert progress[0].batch == 1 and progress[0].batch_loss == pytest.approx(progress[0].loss)
    assert all(isinstance(e.batch_loss, float) for e in progress)
    rows = [
        json.loads(line) for line in (trainer.run_dir / "batches.jsonl").read_text().splitlines()
    ]
    assert [r["batch_loss"] for r in rows] == [e.batch_loss for e in progress]


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path):
    config = tiny(epochs=3, scheduler="cosine", augmentation="flip")
    straight = Trainer(config, runs_dir=tmp_path)
    straight.run()
    first = Trainer(config, runs_dir=tmp_path)
    first.subscribe(lambda e: first.cancel() if isinstance(e, EpochEnd) else None)
    assert first.run() == "cancelled"
    resumed = Trainer(None, runs_dir=tmp_path, resume=first.run_id)
    assert resumed.run_dir == first.run_dir
    events = run_collecting(resumed)
    started = next(e for e in events if isinstance(e, RunStarted))
    assert started.start_epoch == 1 and [r["epoch"] for r in started.history] == [1]
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == [2, 3]
    store = RunStore(tmp_path)
    record = store.get(first.run_id)
    assert record.status == "completed" and record.summary["epochs_completed"] == 3
    assert without_timing(record.metrics) == without_timing(store.get(straight.run_id).metrics)


def test_resume_may_extend_a_finished_run(tmp_path):
    done = Trainer(tiny(epochs=1), runs_dir=tmp_path)
    done.run()
    more = Trainer(tiny(epochs=2, lr=5e-4), runs_dir=tmp_path, resume=done.run_dir)
    assert more.run() == "completed"
    record = RunStore(tmp_path).get(done.run_id)
    assert [r["epoch"] for r in record.metrics] == [1, 2]
    assert record.metrics[1]["lr"] == 5e-4 and record.config["lr"] == 5e-4


def test_resume_refuses_what_it_cannot_continue(tmp_path):
    done = Trainer(tiny(epochs=1), runs_dir=tmp_path)
    done.run()
    with pytest.raises(ConfigError) as excinfo:
        Trainer(None, runs_dir=tmp_path, resume=done.run_id)
    assert "epochs" in excinfo.value.errors
    with pytest.raises(ConfigError) as excinfo:
        Trainer(tiny(epochs=3, image_size=24), runs_dir=tmp_path, resume=done.run_id)
    assert "image_size" in excinfo.value.errors
    (done.run_dir / "last.pt").unlink()
    with pytest.raises(RunStoreError, match="cannot be resumed"):
        Trainer(tiny(epochs=3), runs_dir=tmp_path, resume=done.run_id)
    with pytest.raises(RunStoreError, match="no run"):
        Trainer(None, runs_dir=tmp_path, resume="nonexistent")


def test_nan_loss_ends_as_diverged(tmp_path, monkeypatch):
    from engine.trainer import tasks

    real = tasks.ClassifyTask.train_loss
    monkeypatch.setattr(
        tasks.ClassifyTask, "train_loss", lambda self, out, y: real(self, out, y) * float("nan")
    )
    trainer = Trainer(tiny(), runs_dir=tmp_path)
    trainer.run()
    assert trainer.status == "diverged"
    record = RunStore(tmp_path).get(trainer.run_id)
    assert record.status == "diverged" and "Lower the learning rate" in record.summary["error"]
    assert record.summary["epochs_completed"] == 0


def test_exception_ends_as_failed_with_traceback_in_log(tmp_path, monkeypatch):
    from engine.trainer import tasks

    def explode(self, out, y):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(tasks.ClassifyTask, "train_loss", explode)
    trainer = Trainer(tiny(), runs_dir=tmp_path)
    trainer.start()
    trainer.join(timeout=60)
    assert trainer.status == "failed" and isinstance(trainer.error, RuntimeError)
    record = RunStore(tmp_path).get(trainer.run_id)
    assert record.status == "failed" and record.summary["error"] == "RuntimeError: kaboom"
    log = (trainer.run_dir / "run.log").read_text()
    assert "Traceback" in log and "explode" in log


def test_out_of_memory_suggests_a_smaller_batch(tmp_path, monkeypatch):
    from engine.trainer import tasks

    def oom(self, out, y):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")

    monkeypatch.setattr(tasks.ClassifyTask, "train_loss", oom)
    trainer = Trainer(tiny(), runs_dir=tmp_path)
    trainer.run()
    assert trainer.status == "failed" and "lower --batch-size" in trainer.summary["error"]


def test_invalid_config_raises_before_starting(tmp_path):
    with pytest.raises(ConfigError) as excinfo:
        Trainer(tiny(lr=-1, model="aod_net", model_options={}), runs_dir=tmp_path)
    assert set(excinfo.value.errors) == {"lr", "model"}


def test_failing_subscriber_does_not_stop_the_run(tmp_path):
    trainer = Trainer(tiny(epochs=1), runs_dir=tmp_path)
    trainer.subscribe(lambda event: 1 / 0)
    assert trainer.run() == "completed"
    with pytest.raises(RuntimeError):
        trainer.start()
    with pytest.raises(RuntimeError):
        trainer.run()


def test_max_train_batches_and_validation_split(tmp_path):
    trainer = Trainer(tiny(epochs=1, max_train_batches=1, val_fraction=0.2), runs_dir=tmp_path)
    events = run_collecting(trainer)
    assert {e.num_batches for e in events if isinstance(e, BatchProgress)} == {1}
    row = next(e for e in events if isinstance(e, EpochEnd)).metrics
    assert {"val_loss", "val_acc", "test_acc"} <= set(row)
    assert trainer.summary["best"]["val_acc"] == row["val_acc"]


def test_dehazing_run_records_psnr_ssim_and_samples(tmp_path):
    config = tiny(
        dataset="haze_synth", model="dehaze_conv", model_options={"layers": 2, "width": 8}, epochs=1
    )
    trainer = Trainer(config, runs_dir=tmp_path)
    events = run_collecting(trainer)
    assert trainer.status == "completed"
    row = next(e for e in events if isinstance(e, EpochEnd)).metrics
    assert row["test_psnr"] > 0 and 0 < row["test_ssim"] <= 1 and "test_acc" not in row
    samples = next(e for e in events if isinstance(e, Samples))
    assert len(samples.paths) == 4
    with Image.open(samples.paths[0]) as image:
        assert image.size == (3 * 16 + 4, 16)  # hazy | output | clear
    assert trainer.summary["samples"][0].startswith("samples/")
    # The log states what the hazy input itself scores, the baseline the curve must beat.
    [baseline] = [e.message for e in events if isinstance(e, Log) and "score to beat" in e.message]
    from engine.datasets.registry import load_dataset
    from engine.trainer.metrics import psnr

    bundle = load_dataset("haze_synth", image_size=16)
    expected = psnr(bundle.test_x.float() / 255, bundle.test_y.float() / 255).mean().item()
    assert f"PSNR {expected:.2f} dB" in baseline


def test_training_free_model_is_evaluated_once(tmp_path):
    config = tiny(
        dataset="haze_synth", model="dcp", model_options={"patch_size": 3, "gf_radius": 4}, epochs=5
    )
    trainer = Trainer(config, runs_dir=tmp_path)
    events = run_collecting(trainer)
    assert trainer.status == "completed"
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == [1]
    assert not any(isinstance(e, BatchProgress) for e in events)
    assert trainer.summary["epochs_completed"] == 1 and trainer.summary["best"]["test_psnr"]


def test_amp_request_on_cpu_is_reported_and_ignored(tmp_path):
    trainer = Trainer(tiny(epochs=1, amp=True), runs_dir=tmp_path)
    events = run_collecting(trainer)
    assert trainer.status == "completed"
    assert any(isinstance(e, Log) and "CUDA only" in e.message for e in events)


def test_subscribers_run_on_the_trainer_thread(tmp_path):
    threads = set()
    trainer = Trainer(tiny(epochs=1), runs_dir=tmp_path)
    trainer.subscribe(lambda event: threads.add(threading.current_thread().name))
    trainer.start().join(timeout=60)
    assert threads == {f"trainer-{trainer.run_id}"}
