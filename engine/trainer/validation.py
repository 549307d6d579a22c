"""Validation of a `TrainConfig`, with messages a person understands.

The per-field checks (type, range, choices, length, form) are generated from each field's
metadata (`engine.trainer.config.setting`); only the rules that involve several fields, the
registries or this machine are written here by hand: fractions together, the training crop
against the image size, data set × model × task, model options and the smallest image the
model takes, the device. Registries are looked up lazily, so a typo is caught before any
data is read and importing this module stays cheap. A preset name is a label, not checked.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import ModelError
from engine.trainer.config import field_type

DEFAULT_CLASSES = 10  # what the model is built with when the data set's classes are unknown

if TYPE_CHECKING:
    from collections.abc import Mapping

    from engine.trainer.config import TrainConfig


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return _is_int(value) or isinstance(value, float)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _bounds_text(meta: Mapping[str, Any]) -> str:
    """`above 0 and at most 10`, `at least 0 and below 1`, `at least 0`."""
    words = []
    if meta["above"] is not None:
        words.append(f"above {_number(meta['above'])}")
    if meta["low"] is not None:
        words.append(f"at least {_number(meta['low'])}")
    if meta["high"] is not None:
        words.append(f"at most {_number(meta['high'])}")
    if meta["below"] is not None:
        words.append(f"below {_number(meta['below'])}")
    return " and ".join(words)


def _in_bounds(value: float, meta: Mapping[str, Any]) -> bool:
    """False for NaN and infinities as for a value out of range (every comparison fails)."""
    checks = (
        meta["above"] is None or value > meta["above"],
        meta["low"] is None or value >= meta["low"],
        meta["high"] is None or value <= meta["high"],
        meta["below"] is None or value < meta["below"],
    )
    return all(checks) and math.isfinite(value)


def field_problem(f: dataclasses.Field, value: Any) -> str | None:
    """What is wrong with `value` for field `f` by its type and metadata alone, or None."""
    kind, optional = field_type(f.type)
    meta = f.metadata
    if value is None and optional:
        return None
    if kind is bool:
        return None if isinstance(value, bool) else f"must be true or false, got {value!r}"
    if kind is int:
        if not _is_int(value):
            return f"must be a whole number, got {value!r}"
        if _in_bounds(value, meta):
            return None
        if meta["low"] is not None and meta["high"] is not None:
            return f"must be between {meta['low']} and {meta['high']}, got {value}"
        return f"must be a whole number {_bounds_text(meta)}, got {value}"
    if kind is float:
        if not _is_number(value):
            return f"must be a number, got {value!r}"
        if not _in_bounds(value, meta):
            return f"must be a number {_bounds_text(meta)}, got {value!r}"
        return None
    if kind is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            return "must map option names to values"
        return None
    return _text_problem(value, meta)


def _text_problem(value: Any, meta: Mapping[str, Any]) -> str | None:
    if not isinstance(value, str):
        return f"must be text, got {value!r}"
    if meta["choices"] and value not in meta["choices"]:
        return f"must be one of {', '.join(meta['choices'])}; got {value!r}"
    if meta["max_length"] is not None and len(value) > meta["max_length"]:
        return f"must be text of at most {meta['max_length']} characters"
    if meta["pattern"] is not None and not meta["pattern"][0].match(value):
        return f"must be {meta['pattern'][1]}; got {value!r}"
    if meta["folder"] and not Path(value).expanduser().exists():
        return f"no such folder: {value}"
    return None


def field_problems(config: TrainConfig) -> dict[str, str]:
    """Field → message from every field's own metadata (no registry, no other field)."""
    errors = {}
    for f in dataclasses.fields(config):
        problem = field_problem(f, getattr(config, f.name))
        if problem:
            errors[f.name] = problem
    return errors


# ----------------------------------------------------------------- rules written by hand


def _check_sizes(config: TrainConfig, errors: dict[str, str]) -> None:
    fractions_ok = "test_fraction" not in errors and "val_fraction" not in errors
    if fractions_ok and (config.test_fraction or 0) + config.val_fraction >= 1:
        errors["val_fraction"] = "test and validation fractions together must stay below 1"
    crop_ok = config.train_crop is not None and not {"train_crop", "image_size"} & set(errors)
    if crop_ok and config.train_crop > config.image_size:
        errors["train_crop"] = (
            f"must not exceed the image size {config.image_size}, got {config.train_crop}"
        )


def batch_split_problem(batch_size: int, processes: int) -> str | None:
    """Why a global batch of `batch_size` cannot be split between `processes` ranks (each
    needs two images: one alone has no batch statistics, and a shard must not be empty)."""
    if processes > 1 and batch_size < 2 * processes:
        return (
            f"the global batch is split between {processes} processes: at least 2 images "
            f"each, so --batch-size {2 * processes} or more"
        )
    return None


def _check_processes(config: TrainConfig, errors: dict[str, str]) -> None:
    """A run over several processes trains on cuda (GPUs 0…N-1 of those it may see) or the
    CPU; a pinned GPU names one device, not N."""
    if config.nproc_per_node <= 1 or {"nproc_per_node", "device"} & set(errors):
        return
    if config.device == "mps" or config.device.startswith("cuda:"):
        errors["nproc_per_node"] = (
            f"a run over {config.nproc_per_node} processes trains on device cuda (one GPU "
            f"each), cpu or auto, not {config.device}"
        )
    elif "batch_size" not in errors:
        problem = batch_split_problem(config.batch_size, config.nproc_per_node)
        if problem:
            errors["batch_size"] = problem


def _check_device(config: TrainConfig, errors: dict[str, str]) -> None:
    if "device" in errors or config.device in ("auto", "cpu"):
        return
    from engine.trainer.device import device_problem

    problem = device_problem(config.device)
    if problem:
        errors["device"] = problem


def _check_dataset(config: TrainConfig, errors: dict[str, str]) -> str | None:
    """Check the data set name against the registry; returns its task when known."""
    if "dataset" in errors:
        return None
    if not config.dataset:
        errors["dataset"] = "choose a data set"
        return None
    from engine.datasets import DATASETS

    info = DATASETS.get(config.dataset)
    if info is None:
        names = ", ".join(DATASETS)
        errors["dataset"] = f"unknown data set {config.dataset!r}; choose from {names}"
        return None
    if config.data_root is None and info.own_folder:
        errors["data_root"] = f"the {config.dataset!r} data set needs the folder that holds it"
    return info.task


def _check_task(config: TrainConfig, errors: dict[str, str], task: str | None) -> None:
    """Fields that apply to one task only."""
    if task == "classify" and config.train_crop is not None and "train_crop" not in errors:
        errors["train_crop"] = "applies to dehazing only (classifiers see whole images)"
    if config.crops_per_image > 1 and config.train_crop is None and "crops_per_image" not in errors:
        errors["crops_per_image"] = "needs train_crop (whole images would repeat unchanged)"
    if task == "dehaze" and config.pseudo_label and "pseudo_label" not in errors:
        errors["pseudo_label"] = "applies to classification only (dehazing has no classes)"
    if task == "dehaze" and config.fourier_style and "fourier_style" not in errors:
        errors["fourier_style"] = "applies to classification only (dehazing pairs share a look)"
    if task == "dehaze" and config.tta == "flip_translate" and "tta" not in errors:
        errors["tta"] = "flip_translate applies to classification only; use flip"
    if task == "dehaze" and config.resize != "stretch" and "resize" not in errors:
        errors["resize"] = (
            "applies to classification only: dehazing pairs are stretched (letterbox padding "
            "would be scored as restored pixels)"
        )


def _check_model(
    config: TrainConfig, errors: dict[str, str], task: str | None, num_classes: int
) -> int | None:
    """Model name, its task against the data set's, its options, and the smallest image
    its layers take (counted on the meta device, so nothing is allocated); returns that
    count of parameters (for `num_classes` classes), None when the model was not built."""
    if "model_options" in errors or "model" in errors:
        return None
    if not config.model:
        errors["model"] = "choose a model"
        return None
    from engine.models import get_model_info, parameter_count, resolve_options

    try:
        info = get_model_info(config.model)
    except ModelError as exc:
        errors["model"] = str(exc)
        return None
    if task and info.task != task:
        errors["model"] = (
            f"{config.model} is a {info.task} model but {config.dataset} is a {task} data set"
        )
    try:
        resolve_options(config.model, config.model_options)
    except ModelError as exc:
        errors["model_options"] = str(exc)
        return None
    if "image_size" in errors:
        return None
    try:
        return parameter_count(
            config.model, num_classes=num_classes, image_size=config.image_size,
            **config.model_options,
        )  # fmt: skip
    except ModelError as exc:
        errors["image_size"] = str(exc)
        return None


def _check_init_from(config: TrainConfig, errors: dict[str, str]) -> None:
    """`torchvision:NAME` must be offered and fit the model; `preset:NAME` must exist. Runs
    and files are looked up when the run starts (they live in its runs folder)."""
    spec = config.init_from.strip()
    if {"init_from", "model", "model_options"} & set(errors) or not spec:
        return
    if spec.startswith("preset:"):
        from engine.presets import PRESETS

        name = spec.removeprefix("preset:")
        if name not in PRESETS:
            errors["init_from"] = f"unknown preset {name!r}; choose from {', '.join(PRESETS)}"
        elif name == config.preset:
            errors["init_from"] = f"preset {name} cannot start from its own runs"
        return
    if not spec.startswith("torchvision:"):
        return
    from engine.transfer.hub import HUB_MODELS

    hub = HUB_MODELS.get(spec.removeprefix("torchvision:"))
    if hub is None:
        offered = ", ".join(f"torchvision:{n}" for n in HUB_MODELS)
        errors["init_from"] = f"no torchvision weights {spec!r}; offered: {offered}"
        return
    from engine.models import resolve_options

    resolved = resolve_options(config.model, config.model_options)
    options = {k: resolved.get(k) for k in hub.options}
    if config.model != hub.model or options != hub.options:
        needed = " ".join(f"{k}={v}" for k, v in hub.options.items())
        errors["init_from"] = f"{spec} fits model {hub.model} with options {needed} ({hub.note})"


def check_config(
    config: TrainConfig, *, num_classes: int = DEFAULT_CLASSES
) -> tuple[dict[str, str], int | None]:
    """`validate_config`'s messages and the parameter count of the model it built to check
    the image size (for `num_classes` classes; None when it could not be built): a form
    showing both builds the model once per change, not twice."""
    errors = field_problems(config)
    _check_sizes(config, errors)
    _check_device(config, errors)
    _check_processes(config, errors)
    task = _check_dataset(config, errors)
    _check_task(config, errors, task)
    params = _check_model(config, errors, task, num_classes)
    _check_init_from(config, errors)
    return errors, params


def validate_config(config: TrainConfig) -> dict[str, str]:
    """Field → message for every invalid field of `config` (empty when valid)."""
    return check_config(config)[0]
