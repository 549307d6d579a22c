"""Malicious pickles (a checkpoint or a decode-cache file that runs code when unpickled)
are refused everywhere cnnlab loads one: resume, `checkpoint_epoch`, the decode cache."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from test_datasets_helpers import make_class_folders
from test_trainer import tiny

import engine.datasets.cache as cache
from engine.datasets.registry import load_dataset
from engine.errors import RunStoreError
from engine.trainer.checkpoint import checkpoint_epoch, load_checkpoint
from engine.trainer.loop import Trainer


class _Exploit:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


def _plant(path: Path, marker: Path) -> None:
    with open(path, "wb") as handle:
        pickle.dump({"epoch": 1, "model": _Exploit(marker)}, handle, protocol=2)


def test_a_malicious_checkpoint_is_refused_by_resume_and_never_runs(tmp_path):
    runs = tmp_path / "runs"
    trainer = Trainer(tiny(epochs=1, model_options={"widths": [4, 8]}), runs_dir=runs)
    assert trainer.run() == "completed"
    marker = tmp_path / "pwned"
    _plant(trainer.run_dir / "last.pt", marker)
    for load in (load_checkpoint, checkpoint_epoch):
        with pytest.raises(RunStoreError, match="damaged"):
            load(trainer.run_dir / "last.pt")
    with pytest.raises(RunStoreError, match="damaged"):
        Trainer(trainer.config.replace(epochs=2), runs_dir=runs, resume=trainer.run_id)
    assert not marker.exists()


def test_a_malicious_decode_cache_file_is_ignored_and_never_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLAB_CACHE", str(tmp_path / "cache"))
    root = make_class_folders(tmp_path / "set", {"a": 4, "b": 4})
    load_dataset("folder", root, image_size=8)
    (cached,) = cache.cache_folder(root).glob("*.pt")
    marker = tmp_path / "pwned"
    _plant(cached, marker)
    bundle = load_dataset("folder", root, image_size=8)  # decoded again instead
    assert sum(bundle.split_sizes().values()) == 8 and not marker.exists()
