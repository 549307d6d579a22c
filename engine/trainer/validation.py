"""Field-by-field validation of a `TrainConfig`, with messages a person understands.

Names that live in a registry (data sets, models, their options, presets) are checked
against that registry, so a typo is caught in the form before any data is read.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from engine.datasets.decode import RESIZE_MODES
from engine.datasets.registry import MAX_IMAGE_SIZE, MIN_IMAGE_SIZE
from engine.recipes.lighting import LIGHTING
from engine.recipes.tta import TTA_MODES
from engine.trainer.config import (
    AUGMENTATIONS,
    NORMALIZATIONS,
    OPTIMIZERS,
    SCHEDULERS,
    device_spec_ok,
    path_exists,
)

if TYPE_CHECKING:
    from engine.trainer.config import TrainConfig


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _int_in(value: Any, low: int, high: int) -> str | None:
    if not _is_int(value):
        return f"must be a whole number, got {value!r}"
    if not low <= value <= high:
        return f"must be between {low} and {high}, got {value}"
    return None


def _fraction(value: Any, *, allow_zero: bool) -> str | None:
    if not _is_number(value):
        return f"must be a number, got {value!r}"
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value < 1):
        return f"must be {'at least 0' if allow_zero else 'above 0'} and below 1, got {value}"
    return None


def _choice(value: Any, choices: tuple[str, ...]) -> str | None:
    if value not in choices:
        return f"must be one of {', '.join(choices)}; got {value!r}"
    return None


def _check_numbers(config: TrainConfig, errors: dict[str, str]) -> None:
    checks = {
        "image_size": _int_in(config.image_size, MIN_IMAGE_SIZE, MAX_IMAGE_SIZE),
        "epochs": _int_in(config.epochs, 1, 100_000),
        "batch_size": _int_in(config.batch_size, 1, 65_536),
        "seed": _int_in(config.seed, 0, 2**63 - 1),
        "val_fraction": _fraction(config.val_fraction, allow_zero=True),
        "momentum": _fraction(config.momentum, allow_zero=True),
        "label_smoothing": _fraction(config.label_smoothing, allow_zero=True),
        "pseudo_label": _fraction(config.pseudo_label, allow_zero=True),
    }
    if config.test_fraction is not None:
        checks["test_fraction"] = _fraction(config.test_fraction, allow_zero=False)
    if config.max_train_batches is not None:
        checks["max_train_batches"] = _int_in(config.max_train_batches, 1, 10**9)
    if config.train_crop is not None:
        checks["train_crop"] = _int_in(config.train_crop, MIN_IMAGE_SIZE, MAX_IMAGE_SIZE)
        too_big = _is_int(config.image_size) and config.train_crop > config.image_size
        if checks["train_crop"] is None and too_big:
            checks["train_crop"] = (
                f"must not exceed the image size {config.image_size}, got {config.train_crop}"
            )
    if not _is_number(config.lr) or not 0 < config.lr <= 10:
        checks["lr"] = f"must be a number above 0 and at most 10, got {config.lr!r}"
    if not _is_number(config.weight_decay) or config.weight_decay < 0:
        checks["weight_decay"] = f"must be a number of at least 0, got {config.weight_decay!r}"
    errors.update({k: v for k, v in checks.items() if v})
    fractions_ok = "test_fraction" not in errors and "val_fraction" not in errors
    if fractions_ok and (config.test_fraction or 0) + config.val_fraction >= 1:
        errors["val_fraction"] = "test and validation fractions together must stay below 1"


def _check_choices(config: TrainConfig, errors: dict[str, str]) -> None:
    checks = {
        "optimizer": _choice(config.optimizer, OPTIMIZERS),
        "scheduler": _choice(config.scheduler, SCHEDULERS),
        "augmentation": _choice(config.augmentation, AUGMENTATIONS),
        "normalize": _choice(config.normalize, NORMALIZATIONS),
        "resize": _choice(config.resize, RESIZE_MODES),
        "lighting": _choice(config.lighting, LIGHTING),
        "tta": _choice(config.tta, TTA_MODES),
    }
    for flag in ("amp", "bn_adapt", "channels_last", "compile"):
        value = getattr(config, flag)
        if not isinstance(value, bool):
            checks[flag] = f"must be true or false, got {value!r}"
    if not isinstance(config.name, str) or len(config.name) > 80:
        checks["name"] = "must be text of at most 80 characters"
    errors.update({k: v for k, v in checks.items() if v})


def _check_device(config: TrainConfig, errors: dict[str, str]) -> None:
    if not device_spec_ok(config.device):
        errors["device"] = f"must be auto, cpu, cuda, cuda:N or mps; got {config.device!r}"
        return
    from engine.trainer.device import device_problem

    problem = device_problem(config.device)
    if problem:
        errors["device"] = problem


def _check_dataset(config: TrainConfig, errors: dict[str, str]) -> str | None:
    """Check the data set name and root; returns the data set's task when known."""
    if config.data_root is not None and (
        not isinstance(config.data_root, str) or not path_exists(config.data_root)
    ):
        errors["data_root"] = f"no such folder: {config.data_root}"
    if not isinstance(config.dataset, str) or not config.dataset:
        errors["dataset"] = "choose a data set"
        return None
    from engine.trainer.registries import dataset_task, known_datasets, needs_own_folder

    names = known_datasets()
    if config.dataset not in names:
        errors["dataset"] = f"unknown data set {config.dataset!r}; choose from {', '.join(names)}"
        return None
    if config.data_root is None and needs_own_folder(config.dataset):
        errors["data_root"] = f"the {config.dataset!r} data set needs the folder that holds it"
    return dataset_task(config.dataset)


def _check_model(config: TrainConfig, errors: dict[str, str], task: str | None) -> None:
    if not isinstance(config.model_options, dict) or not all(
        isinstance(k, str) for k in config.model_options
    ):
        errors["model_options"] = "must map option names to values"
        return
    if not isinstance(config.model, str) or not config.model:
        errors["model"] = "choose a model"
        return
    from engine.trainer.registries import model_info_or_problem, option_problem, size_problem

    info, problem = model_info_or_problem(config.model)
    if problem:
        errors["model"] = problem
        return
    if info is None:
        return
    if task and info.task != task:
        errors["model"] = (
            f"{config.model} is a {info.task} model but {config.dataset} is a {task} data set"
        )
    problem = option_problem(config.model, config.model_options)
    if problem:
        errors["model_options"] = problem
    elif "image_size" not in errors:
        problem = size_problem(config.model, config.image_size, config.model_options)
        if problem:
            errors["image_size"] = problem


def _check_preset(config: TrainConfig, errors: dict[str, str]) -> None:
    if config.preset is None:
        return
    from engine.presets import PRESETS

    if config.preset not in PRESETS:
        errors["preset"] = f"unknown preset {config.preset!r}; choose from {', '.join(PRESETS)}"


def validate_config(config: TrainConfig) -> dict[str, str]:
    """Field → message for every invalid field of `config` (empty when valid)."""
    errors: dict[str, str] = {}
    _check_numbers(config, errors)
    _check_choices(config, errors)
    _check_device(config, errors)
    task = _check_dataset(config, errors)
    if task == "classify" and config.train_crop is not None and "train_crop" not in errors:
        errors["train_crop"] = "applies to dehazing only (classifiers see whole images)"
    if task == "dehaze" and config.pseudo_label and "pseudo_label" not in errors:
        errors["pseudo_label"] = "applies to classification only (dehazing has no classes)"
    if task == "dehaze" and config.resize != "stretch" and "resize" not in errors:
        errors["resize"] = (
            "applies to classification only: dehazing pairs are stretched (letterbox padding "
            "would be scored as restored pixels)"
        )
    _check_model(config, errors, task)
    _check_preset(config, errors)
    return errors
