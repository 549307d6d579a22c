"""TrainConfig: defaults, validation messages, round trips, field metadata, option parsing;
device resolution; learning-rate schedules."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from engine.errors import ConfigError
from engine.trainer import ConfigField, TrainConfig, config_fields, parse_model_option
from engine.trainer.config import parse_option_value
from engine.trainer.device import (
    amp_applies,
    auto_device,
    device_key,
    device_problem,
    resolve_device,
)
from engine.trainer.optim import build_optimizer, lr_factor


def test_defaults_follow_the_lab():
    config = TrainConfig()
    assert (config.optimizer, config.lr, config.batch_size, config.epochs) == ("adam", 1e-3, 64, 10)
    assert config.validate() == {}


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"epochs": 0}, "epochs", "between 1 and"),
        ({"epochs": 2.5}, "epochs", "whole number"),
        ({"batch_size": True}, "batch_size", "whole number"),
        ({"lr": 0}, "lr", "above 0"),
        ({"lr": math.nan}, "lr", "above 0"),
        ({"image_size": 2}, "image_size", "between"),
        ({"test_fraction": 1.0}, "test_fraction", "below 1"),
        ({"val_fraction": -0.1}, "val_fraction", "at least 0"),
        ({"test_fraction": 0.6, "val_fraction": 0.5}, "val_fraction", "together"),
        ({"momentum": 1.5}, "momentum", "below 1"),
        ({"weight_decay": -1}, "weight_decay", "at least 0"),
        ({"optimizer": "rmsprop"}, "optimizer", "adam, sgd, adamw"),
        ({"scheduler": "step"}, "scheduler", "cosine"),
        ({"augmentation": "mixup"}, "augmentation", "crop_flip"),
        ({"normalize": "zscore"}, "normalize", "dataset"),
        ({"resize": "crop"}, "resize", "stretch, letterbox"),
        (
            {"dataset": "haze_synth", "model": "dehaze_conv", "resize": "letterbox"},
            "resize",
            "classification only",
        ),
        ({"device": "gpu"}, "device", "cuda:N"),
        ({"amp": "yes"}, "amp", "true or false"),
        ({"max_train_batches": 0}, "max_train_batches", "between 1"),
        ({"dataset": "vehicels"}, "dataset", "unknown data set"),
        ({"data_root": "/no/such/folder"}, "data_root", "no such folder"),
        ({"model": "resnet19"}, "model", "resnet18"),
        ({"model": "aod_net"}, "model", "dehaze model but shapes is a classify"),
        ({"model_options": {"widths": "wide"}}, "model_options", "widths"),
        ({"model_options": {"depth": 3}}, "model_options", "no option 'depth'"),
        ({"model": "dilated", "image_size": 16}, "image_size", "needs at least"),
        ({"dataset": "folder"}, "data_root", "needs the folder"),
        ({"name": "x" * 81}, "name", "80 characters"),
    ],
)
def test_validation_names_the_field_and_the_problem(changes, field, fragment):
    errors = dataclasses.replace(TrainConfig(), **changes).validate()
    assert field in errors, errors
    assert fragment in errors[field]


def test_a_preset_name_is_a_label_not_a_check():
    """A run started from a preset that was renamed since must still validate (re-run)."""
    assert TrainConfig(preset="renamed-long-ago").validate() == {}
    assert "text" in TrainConfig(preset=3).validate()["preset"]


def test_validation_reports_every_bad_field_at_once():
    errors = TrainConfig(epochs=0, lr=-1, optimizer="x").validate()
    assert set(errors) == {"epochs", "lr", "optimizer"}
    with pytest.raises(ConfigError) as excinfo:
        TrainConfig(epochs=0, lr=-1, optimizer="x").ensure_valid()
    assert excinfo.value.errors == errors


def test_dict_round_trip_and_unknown_keys():
    config = TrainConfig(dataset="haze_synth", model="dehaze_conv", model_options={"width": 8})
    data = config.to_dict()
    assert TrainConfig.from_dict(data) == config
    letterbox = TrainConfig(resize="letterbox")
    assert TrainConfig.from_dict(letterbox.to_dict()).resize == "letterbox"
    data_without_resize = {k: v for k, v in data.items() if k != "resize"}  # an older run
    assert TrainConfig.from_dict(data_without_resize).resize == "stretch"
    data["model_options"]["width"] = 99
    assert config.model_options == {"width": 8}  # to_dict returns a copy
    with pytest.raises(ConfigError) as excinfo:
        TrainConfig.from_dict({"lr": 0.1, "learning_rate": 0.1})
    assert excinfo.value.errors == {"learning_rate": "unknown setting"}
    assert config.replace(lr=0.5).lr == 0.5 and config.lr == 1e-3


def test_config_fields_describe_every_field():
    specs = {spec.name: spec for spec in config_fields()}
    assert list(specs) == [f.name for f in dataclasses.fields(TrainConfig)]
    assert specs["batch_size"] == ConfigField(
        "batch_size", int, 64, specs["batch_size"].help, None, False
    )
    assert specs["batch_size"].flag == "--batch-size"
    assert specs["max_train_batches"].optional and specs["max_train_batches"].type is int
    assert specs["amp"].type is bool and specs["model_options"].type is dict
    assert specs["optimizer"].choices == ("adam", "sgd", "adamw", "nesterov")
    assert (
        specs["resize"].choices == ("stretch", "letterbox") and specs["resize"].flag == "--resize"
    )
    assert "vehicles" in specs["dataset"].choices and "resnet18" in specs["model"].choices
    assert all(spec.help for spec in specs.values())


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("8,16,32", [8, 16, 32]),
        ("1e-3", 0.001),
        ("3", 3),
        ("true", True),
        ("none", None),
        ("hand", "hand"),
        ("0.5,same", [0.5, "same"]),
        ("nan", "nan"),
    ],
)
def test_option_values_are_parsed(text, value):
    assert parse_option_value(text) == value


def test_model_option_pairs():
    assert parse_model_option("conv-impl=hand") == ("conv_impl", "hand")
    for bad in ("widths", "=3", "two words=1"):
        with pytest.raises(ConfigError):
            parse_model_option(bad)


def test_device_resolution_on_this_machine():
    expected = "cuda" if torch.cuda.is_available() else None
    assert resolve_device("cpu") == torch.device("cpu")
    if expected is None and not torch.backends.mps.is_available():
        assert resolve_device("auto") == torch.device("cpu")
        assert "not available" in device_problem("cuda")
        with pytest.raises(ConfigError):
            resolve_device("cuda:0")
    assert not amp_applies(torch.device("cpu"), True)
    assert amp_applies(torch.device("cuda"), True) and not amp_applies(torch.device("cuda"), False)


def test_auto_is_decided_in_one_place():
    """`auto` means the same device to the trainer and to the dashboard's queue lanes."""
    expected = "cuda" if torch.cuda.is_available() else None
    expected = expected or ("mps" if torch.backends.mps.is_available() else "cpu")
    assert auto_device() == expected and resolve_device("auto").type == expected
    assert device_key("auto") == ("cuda:0" if expected == "cuda" else expected)
    assert (device_key("cuda"), device_key(" CPU "), device_key("cuda:1")) == (
        "cuda:0",
        "cpu",
        "cuda:1",
    )


def test_overrides_replace_fields_and_merge_model_options():
    from engine.trainer.config import apply_overrides

    base = TrainConfig(model="dilated", model_options={"dilations": [1, 2, 5]}, lr=0.1)
    merged = apply_overrides(base, {"lr": 0.2, "model_options": {"widths": [4, 8]}})
    assert merged.lr == 0.2 and merged.model_options == {"dilations": [1, 2, 5], "widths": [4, 8]}
    assert apply_overrides(base, {"model": "conv"}).model_options == {}  # meant for dilated
    assert apply_overrides(base, {"epochs": 3}).model_options == base.model_options
    assert base.model_options == {"dilations": [1, 2, 5]}  # not mutated


def test_field_checks_come_from_each_fields_metadata():
    """Every bounded or listed field refuses what its metadata excludes, with no rule
    written for it by hand (validation generates the checks)."""
    import dataclasses

    from engine.trainer.config import field_metadata
    from engine.trainer.validation import field_problem

    checked = 0
    for f in dataclasses.fields(TrainConfig):
        meta = field_metadata(f.name)
        assert meta["help"], f.name
        bad = []
        if meta["choices"]:
            bad.append("no-such-" + f.name)
        for key, step in (("low", -1), ("above", 0), ("high", 1), ("below", 0)):
            if meta[key] is not None:
                bad.append(meta[key] + step)
        for value in bad:
            assert field_problem(f, value), (f.name, value)
            checked += 1
    assert checked >= 25


def test_learning_rate_schedules():
    assert lr_factor("none", 50, 100) == 1
    assert lr_factor("cosine", 0, 100) == 1 and lr_factor("cosine", 100, 100) == pytest.approx(0)
    assert lr_factor("cosine", 50, 100) == pytest.approx(0.5)
    start, peak, end = (lr_factor("onecycle", s, 100) for s in (0, 30, 100))
    assert start == pytest.approx(1 / 25) and peak == pytest.approx(1) and end < 1e-3
    assert lr_factor("onecycle", 15, 100) < peak and lr_factor("onecycle", 60, 100) < peak


def test_optimizers_follow_the_config():
    model = torch.nn.Linear(2, 2)
    sgd = build_optimizer(model, TrainConfig(optimizer="sgd", momentum=0.8, weight_decay=0.1))
    assert isinstance(sgd, torch.optim.SGD)
    assert sgd.param_groups[0]["momentum"] == 0.8 and sgd.param_groups[0]["weight_decay"] == 0.1
    assert isinstance(build_optimizer(model, TrainConfig()), torch.optim.Adam)
    assert isinstance(build_optimizer(model, TrainConfig(optimizer="adamw")), torch.optim.AdamW)
