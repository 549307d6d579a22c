"""Which fields the New run form shows, and where their choices and defaults come from.

Every choice list, default and help text is the engine's (`config_fields`, the data set and
model registries, presets), so the form never re-implements engine rules. Each lookup
imports the engine: call them once it is loaded (`cnnlab_tui.engine_import`).
"""

from __future__ import annotations

from typing import Any

# Which TrainConfig fields the form shows, by section (labels are the form's own words).
DATA_FIELDS: tuple[tuple[str, str], ...] = (
    ("data_root", "Data root"),
    ("dataset", "Data set"),
    ("image_size", "Image size"),
    ("resize", "Resize"),
    ("augmentation", "Augmentation"),
)
TRAINING_FIELDS: tuple[tuple[str, str], ...] = (
    ("epochs", "Epochs"),
    ("batch_size", "Batch size"),
    ("lr", "Learning rate"),
    ("optimizer", "Optimizer"),
    ("momentum", "Momentum (sgd)"),
    ("scheduler", "Scheduler"),
    ("weight_decay", "Weight decay"),
    ("max_train_batches", "Batches/epoch"),
    ("seed", "Seed"),
    ("device", "Device"),
    ("amp", "Mixed precision"),
    ("channels_last", "Channels-last"),
    ("compile", "torch.compile"),
    ("name", "Run name"),
)


def config_field_specs() -> dict[str, Any]:
    """name → engine ConfigField (type, default, help, choices, optional)."""
    from engine.trainer.config import config_fields

    return {f.name: f for f in config_fields()}


def field_kind(spec: Any) -> str:
    """The form kind for an engine ConfigField."""
    if spec.choices:
        return "choice"
    return {int: "int", float: "float", bool: "bool"}.get(spec.type, "str")


def default_config() -> dict[str, Any]:
    """The engine's default TrainConfig as a dict (the lab's defaults)."""
    from engine.trainer.config import TrainConfig

    return TrainConfig().to_dict()


def dataset_names() -> list[str]:
    from engine.datasets import DATASETS

    return list(DATASETS)


def model_choices() -> list[tuple[str, str]]:
    """(label, name) for every registered model, classification first."""
    from engine.models import list_models

    return [(f"{m.name}  ({m.task})", m.name) for m in list_models()]


def preset_list() -> list[tuple[str, str]]:
    """(name, description) of every preset the engine offers."""
    from engine.presets import list_presets

    return [(p.name, p.description) for p in list_presets()]


def preset_config(name: str) -> dict[str, Any]:
    """A full config dict for preset `name` (the engine merges its overrides into defaults)."""
    from engine.presets import get_preset

    config = get_preset(name).to_config().to_dict()
    config["preset"] = name
    return config
