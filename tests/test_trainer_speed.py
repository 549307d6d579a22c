"""Opt-in speed settings: channels-last, torch.compile, mixed precision, data placement.

CPU tests check that each setting keeps results and checkpoints intact; the CUDA tests
(skipped without a GPU) check what only a GPU can show: bfloat16 autocast, cuDNN tuning,
and a data set too big for the GPU kept in pinned host memory.
"""

from __future__ import annotations

import pytest
import torch
from test_trainer import (  # the tiny shapes config every trainer test starts from
    run_collecting,
    tiny,
)

from engine.events import EpochEnd, Log
from engine.models import create_model
from engine.trainer.accelerate import accelerate
from engine.trainer.config import TrainConfig
from engine.trainer.device import amp_dtype, batch_to, grad_scaler
from engine.trainer.loop import Trainer

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def run(config: TrainConfig, tmp_path) -> tuple[Trainer, list]:
    trainer = Trainer(config, runs_dir=tmp_path)
    return trainer, run_collecting(trainer)


def logs(events: list) -> str:
    return "\n".join(e.message for e in events if isinstance(e, Log))


def test_channels_last_model_gives_the_same_outputs_and_state_dict_keys():
    torch.manual_seed(0)
    plain = create_model("residual", num_classes=3, image_size=16, widths=[8, 16])
    fast = create_model("residual", num_classes=3, image_size=16, widths=[8, 16])
    fast.load_state_dict(plain.state_dict())
    assert accelerate(fast, channels_last=True, compile_model=False) == [
        "channels-last memory format"
    ]
    conv_weight = next(p for p in fast.parameters() if p.dim() == 4)
    assert conv_weight.is_contiguous(memory_format=torch.channels_last)
    assert not conv_weight.is_contiguous()
    assert list(fast.state_dict()) == list(plain.state_dict())
    x = torch.randn(4, 3, 16, 16)
    plain.eval(), fast.eval()
    torch.testing.assert_close(fast(x), plain(x), rtol=1e-4, atol=1e-5)


def test_channels_last_run_logs_it_and_matches_the_plain_run(tmp_path):
    plain, _ = run(tiny(), tmp_path / "a")
    fast, events = run(tiny(channels_last=True), tmp_path / "b")
    assert fast.status == "completed"
    assert "speed: channels-last memory format" in logs(events)
    a, b = plain.summary["final"], fast.summary["final"]
    assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-3)
    assert b["test_acc"] == pytest.approx(a["test_acc"], abs=0.02)


def test_amp_is_bfloat16_or_float16_on_cuda_and_off_elsewhere():
    assert amp_dtype(torch.device("cpu"), True) is None
    assert amp_dtype(torch.device("cpu"), False) is None
    assert not grad_scaler(torch.device("cpu"), None).is_enabled()
    assert not grad_scaler(torch.device("cpu"), torch.bfloat16).is_enabled()


def test_batch_to_leaves_a_batch_already_on_the_device_alone():
    x, y = torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.zeros(2, dtype=torch.long)
    moved = batch_to(torch.device("cpu"), x, y)
    assert moved[0] is x and moved[1] is y


def test_speed_flags_are_validated_as_booleans():
    errors = tiny(channels_last="yes", compile=1).validate()
    assert "channels_last" in errors and "compile" in errors


@pytest.mark.slow
def test_compiled_run_trains_and_saves_plain_state_dict_keys(tmp_path):
    trainer, events = run(tiny(compile=True, epochs=1), tmp_path)
    assert trainer.status == "completed", logs(events)
    assert "torch.compile" in logs(events)
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == [1]
    state = torch.load(trainer.run_dir / "last.pt", weights_only=False)["model"]
    assert state and not any(key.startswith("_orig_mod") for key in state)


@needs_cuda
def test_cuda_run_uses_bfloat16_cudnn_tuning_and_keeps_data_on_the_gpu(tmp_path):
    trainer, events = run(tiny(device="cuda", amp=True, channels_last=True), tmp_path)
    assert trainer.status == "completed", logs(events)
    text = logs(events)
    expected = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    assert f"{expected} autocast" in text and "cudnn.benchmark on" in text
    assert "whole data set on cuda" in text


@needs_cuda
def test_cuda_run_with_data_too_big_for_the_gpu_copies_batches_from_host(tmp_path, monkeypatch):
    from engine.trainer import setup

    on_gpu, _ = run(tiny(device="cuda"), tmp_path / "gpu")
    monkeypatch.setattr(setup, "DATA_MEMORY_SHARE", 0.0)
    on_host, events = run(tiny(device="cuda"), tmp_path / "host")
    assert on_host.status == "completed", logs(events)
    assert "pinned host memory" in logs(events)
    pseudo, events = run(tiny(device="cuda", pseudo_label=0.3), tmp_path / "pseudo")
    assert pseudo.status == "completed", logs(events)  # self-training reads host data too
    a, b = on_gpu.summary["final"], on_host.summary["final"]
    assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-3)


def _preset_on_synthetic_data(name: str, **changes) -> TrainConfig:
    """A preset's recipe (augmentation, TTA, BN re-estimation, crops …) on built-in data."""
    from engine.presets import get_preset

    preset = get_preset(name)
    dehaze = preset.overrides.get("dataset") == "dehaze"
    data = {"dataset": "haze_synth", "image_size": 48, "train_crop": 32} if dehaze else {}
    if not dehaze:
        data = {"dataset": "shapes", "image_size": 32}
    # init_from="": the recipe's CIFAR-10 pretraining is tested in test_trainer_transfer
    fields = {"data_root": None, "epochs": 2, "max_train_batches": 2, "init_from": "", **data}
    return preset.to_config(**fields, **changes)


@needs_cuda
@pytest.mark.parametrize(
    ("preset", "extra"),
    [
        ("vehicles-best", {}),
        ("vehicles-best", {"pseudo_label": 0.5, "resize": "letterbox"}),
        ("dehaze-best", {}),
        ("cifar10-fast", {}),
    ],
)
def test_cuda_recipes_run_end_to_end_with_every_speed_setting(preset, extra, tmp_path):
    config = _preset_on_synthetic_data(
        preset, device="cuda", amp=True, channels_last=True, compile=False, **extra
    )
    trainer, events = run(config, tmp_path)
    assert trainer.status == "completed", logs(events)
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == [1, 2]
    final = trainer.summary["final"]
    assert all(v == v for v in final.values() if isinstance(v, float))  # no NaN


@needs_cuda
def test_cuda_training_free_dehazer_evaluates_on_the_gpu(tmp_path):
    config = TrainConfig(dataset="haze_synth", model="dcp", image_size=48, device="cuda")
    trainer, events = run(config, tmp_path)
    assert trainer.status == "completed", logs(events)
    assert trainer.summary["final"]["test_psnr"] > 0
