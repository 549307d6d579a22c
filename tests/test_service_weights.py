"""torchvision weights and the engine: it never downloads, so a run whose weights its torch
hub cache lacks is refused at submission (saying how to get them) rather than failing after
its wait; `cnnlab train --detach --download-weights` fetches them before it submits. The
network is replaced at its edge (`engine.transfer.hub.download_weights`) by a stand-in that
writes the file where torch hub would."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_helpers import running_engine, stop_engine, tiny_config

from engine.cli import main
from engine.errors import ConfigError

RESNET = {
    "model": "resnet18", "model_options": {"base_width": 64, "stem": "imagenet"},
    "init_from": "torchvision:resnet18", "image_size": 32,
}  # fmt: skip


def test_a_run_whose_weights_the_engine_lacks_is_refused_at_submission(tmp_path, empty_hub):
    with running_engine(tmp_path / "runs") as client:
        with pytest.raises(ConfigError) as refused:
            client.submit_run(tiny_config(**RESNET))
        assert client.entries() == []
    message = refused.value.errors["init_from"]
    assert "not in the torch hub cache" in message and "--download-weights" in message


def test_detach_with_download_weights_fetches_them_first(tmp_path, empty_hub, monkeypatch,
                                                          capsys):  # fmt: skip
    fetched = []

    def stand_in(name: str, progress: bool = True) -> Path:
        fetched.append(name)
        empty_hub.parent.mkdir(parents=True, exist_ok=True)
        empty_hub.write_bytes(b"weights")
        return empty_hub

    monkeypatch.setattr("engine.transfer.hub.download_weights", stand_in)
    runs = tmp_path / "runs"
    flags = ["--dataset", "shapes", "--model", "resnet18", "--model-opt", "base_width=64",
             "--model-opt", "stem=imagenet", "--init-from", "torchvision:resnet18",
             "--image-size", "32", "--device", "cpu", "--epochs", "1"]  # fmt: skip
    try:
        assert main(["train", *flags, "--detach", "--runs-dir", str(runs)]) == 2  # refused
        assert fetched == [] and "--download-weights" in " ".join(capsys.readouterr().err.split())
        code = main(["train", *flags, "--detach", "--download-weights", "--runs-dir", str(runs)])
        assert code == 0 and fetched == ["resnet18"]
        assert "queued q" in capsys.readouterr().out
    finally:
        stop_engine(runs)
