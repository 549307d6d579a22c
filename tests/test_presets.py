"""Presets: the lab's experiments exist, validate, and can be overridden."""

from __future__ import annotations

import pytest

from engine.errors import ConfigError
from engine.presets import PRESETS, get_preset, list_presets
from engine.trainer.config import TrainConfig
from engine.trainer.loop import Trainer

LAB = [
    "lab-conv",
    "lab-myconv",
    "lab-dilated",
    "lab-residual",
    "lab-resnet18",
    "lab-plain18",
    "lab-alexnet",
    "lab-mlp",
    "lab-dehaze",
]


def test_the_lab_experiments_and_quick_demos_are_there():
    names = [p.name for p in list_presets()]
    assert set(LAB + ["quick-shapes", "quick-haze"]) <= set(names)
    assert names == list(PRESETS)
    assert all(p.description for p in list_presets())


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_is_a_valid_config(name):
    config = get_preset(name).to_config()
    assert config.validate() == {}
    assert config.preset == name


def test_lab_conv_and_myconv_follow_the_slides():
    conv = get_preset("lab-conv").to_config()
    assert (conv.dataset, conv.model, conv.image_size) == ("vehicles", "conv", 32)
    assert (conv.optimizer, conv.lr, conv.batch_size, conv.epochs) == ("adam", 1e-3, 64, 10)
    myconv = get_preset("lab-myconv").to_config()
    assert (myconv.model, myconv.max_train_batches, myconv.epochs) == ("my_conv", 1, 1)


def test_overrides_win_and_model_options_merge():
    config = get_preset("lab-dilated").to_config(epochs=3, model_options={"widths": [8, 8, 8]})
    assert config.epochs == 3
    assert config.model_options == {"dilations": [1, 2, 5], "widths": [8, 8, 8]}
    switched = get_preset("lab-dilated").to_config(model="conv")
    assert switched.model_options == {} and switched.validate() == {}
    assert get_preset("lab-conv").overrides.get("model_options") is None  # not mutated


def test_unknown_preset_is_a_config_error():
    with pytest.raises(ConfigError) as excinfo:
        get_preset("lab-transformer")
    assert "lab-conv" in excinfo.value.errors["preset"]


@pytest.mark.parametrize("name", ["quick-shapes", "quick-haze"])
def test_quick_presets_learn_clearly_in_seconds(name, tmp_path, one_thread):
    """The first run a new user makes must visibly learn: shapes well above chance (1/3),
    dehazing well above the PSNR of the hazy input itself."""
    trainer = Trainer(get_preset(name).to_config(device="cpu"), runs_dir=tmp_path)
    assert trainer.run() == "completed"
    assert trainer.summary["epochs_completed"] == 2
    assert trainer.summary["train_seconds"] < 30
    assert isinstance(trainer.config, TrainConfig)
    final = trainer.summary["final"]
    if name == "quick-shapes":
        assert final["test_acc"] >= 0.85  # 0.97 as built (seed 0)
    else:
        hazy_psnr = _hazy_input_psnr(trainer.config)  # 15.3 dB as built
        assert final["test_psnr"] > hazy_psnr + 3  # 20.7 dB as built


def _hazy_input_psnr(config: TrainConfig) -> float:
    """Mean PSNR of the test set's hazy images against their clear ones: doing nothing."""
    from engine.datasets.registry import load_dataset
    from engine.trainer.metrics import psnr

    bundle = load_dataset(config.dataset, image_size=config.image_size, seed=config.seed)
    hazy, clear = bundle.test_x.float() / 255, bundle.test_y.float() / 255
    return float(psnr(hazy, clear).mean())
