"""A runs folder that fills up or is read-only: the first failed write stops the run with
the reason and the path, the run is recorded as failed wherever the disk still allows (and
the CLI says truthfully whether it was), no half-written file is left and no folder lists
as damaged. Writability is checked before training, so nothing trains in vain.

Real file systems only: a small tmpfs for a full disk, a read-only bind mount (or a tmpfs
remounted read-only) — root writes through permission bits, not through these. Tests skip
with the reason when this machine cannot mount.
"""

from __future__ import annotations

import errno
import json
import subprocess
import time
from pathlib import Path

import pytest
from test_trainer import run_collecting
from test_trainer import tiny as trainer_tiny

from engine.cli import main
from engine.errors import CnnlabError
from engine.events import EpochEnd
from engine.runs import RunStore, read_run
from engine.trainer import TrainConfig
from engine.trainer.loop import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(**changes) -> TrainConfig:
    smaller = {"model_options": {"widths": [4, 8]}, "epochs": 3, "max_train_batches": 2}
    return trainer_tiny(**{**smaller, **changes})


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot {' '.join(command[:3])} here: {result.stderr.strip()}")


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs: a real file system that fills up."""
    mount = tmp_path / "disk"
    mount.mkdir()
    _run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)])
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def remount(mount: Path, mode: str) -> None:
    _run(["mount", "-o", f"remount,{mode}", str(mount)])


def fill(mount: Path) -> Path:
    """Write a ballast file until the file system refuses: the disk is now full."""
    ballast = mount / "ballast"
    chunk = b"\0" * 16384
    with open(ballast, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return ballast


def _leftovers(run_dir: Path) -> list[str]:
    return sorted(p.name for p in run_dir.rglob("*") if p.name.endswith(".tmp"))


def test_disk_full_mid_run_stops_at_the_first_failed_write_and_records_failed(small_disk):
    runs = small_disk / "runs"
    trainer = Trainer(tiny(), runs_dir=runs)

    def fill_after_first_epoch(event):
        if isinstance(event, EpochEnd) and event.epoch == 1:
            fill(small_disk)

    trainer.subscribe(fill_after_first_epoch)
    events = run_collecting(trainer)
    assert trainer.status == "failed" and isinstance(trainer.error, CnnlabError)
    message = trainer.summary["error"]
    assert "no space left on device" in message and str(trainer.run_dir) in message
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == [1], "stopped at once"
    record = read_run(trainer.run_dir)
    assert record.damaged is None and record.status == "failed"
    assert record.summary["error"] == message, "the failure is on disk, with its reason"
    assert [row["epoch"] for row in record.metrics] == [1]
    assert _leftovers(trainer.run_dir) == [], "no half-written file"
    assert [r.status for r in RunStore(runs).list_runs()] == ["failed"]


def test_disk_full_before_the_run_leaves_no_half_made_folder(small_disk, capsys):
    runs = small_disk / "runs"
    runs.mkdir()
    fill(small_disk)
    code = main(["train", *_tiny_flags(), "--runs-dir", str(runs)])
    err = capsys.readouterr().err.replace("\n", " ")
    assert code == 1 and "no space left on device" in err
    assert "nothing was recorded" in err and "recorded as a failed run" not in err
    assert list(runs.iterdir()) == [], "no folder that would list as damaged"


def _tiny_flags(epochs: int = 3) -> list[str]:
    return ["--dataset", "shapes", "--image-size", "16", "--model-opt", "widths=4,8",
            "--epochs", str(epochs), "--batch-size", "50", "--max-train-batches", "2",
            "--device", "cpu", "--quiet"]  # fmt: skip


def test_too_little_space_for_the_checkpoints_is_refused_before_training(small_disk):
    runs = small_disk / "runs"
    trainer = Trainer(tiny(model_options={"widths": [64, 128]}), runs_dir=runs)
    events = run_collecting(trainer)
    assert trainer.status == "failed" and isinstance(trainer.error, CnnlabError)
    assert "no space left on device" in trainer.summary["error"]
    assert "needed for last.pt, best.pt" in trainer.summary["error"]
    assert not any(isinstance(e, EpochEnd) for e in events), "refused before any epoch"
    assert read_run(trainer.run_dir).status == "failed"


def test_a_read_only_runs_folder_fails_at_once_with_nothing_created(small_disk, capsys):
    runs = small_disk / "runs"
    runs.mkdir()
    remount(small_disk, "ro")
    code = main(["train", *_tiny_flags(), "--runs-dir", str(runs)])
    err = capsys.readouterr().err.replace("\n", " ")
    assert code == 1 and "read-only file system" in err and "nothing was recorded" in err


def test_a_run_made_read_only_mid_run_says_truthfully_it_could_not_record(
    small_disk, capsys, monkeypatch
):
    import engine.cli.train_cmd as train_cmd

    real = train_cmd.build_trainer

    def build_and_watch(args):
        trainer = real(args)

        def read_only_after_first_epoch(event):
            if isinstance(event, EpochEnd) and event.epoch == 1:
                remount(small_disk, "ro")

        trainer.subscribe(read_only_after_first_epoch)
        return trainer

    monkeypatch.setattr(train_cmd, "build_trainer", build_and_watch)
    runs = small_disk / "runs"
    code = main(["train", *_tiny_flags(), "--runs-dir", str(runs)])
    err = capsys.readouterr().err.replace("\n", " ")
    assert code == 1 and "read-only file system" in err
    assert "could not record the failed run" in err and "recorded as a failed" not in err
    (run_dir,) = runs.iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "running" and summary["epochs_completed"] == 1
    assert _leftovers(run_dir) == []


def test_resume_into_a_read_only_folder_is_refused_before_any_training(tmp_path):
    runs = tmp_path / "runs"
    first = Trainer(tiny(epochs=1), runs_dir=runs)
    assert first.run() == "completed"
    before = {p.name: p.read_bytes() for p in first.run_dir.iterdir() if p.is_file()}
    view = tmp_path / "view"
    view.mkdir()
    _run(["mount", "--bind", str(runs), str(view)])
    try:
        _run(["mount", "-o", "remount,ro,bind", str(view)])
        started = time.monotonic()
        with pytest.raises(CnnlabError, match="read-only file system"):
            Trainer(tiny(epochs=3), runs_dir=view, resume=first.run_id)
        assert time.monotonic() - started < 5, "no data loaded, no epoch trained"
    finally:
        subprocess.run(["umount", str(view)], check=False)
    after = {p.name: p.read_bytes() for p in first.run_dir.iterdir() if p.is_file()}
    assert after == before
