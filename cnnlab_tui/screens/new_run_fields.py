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
    ("lookahead", "Lookahead"),
    ("weight_decay", "Weight decay"),
    ("init_from", "Init from"),
    ("freeze_epochs", "Freeze epochs"),
    ("head_lr_mult", "Head lr ×"),
    ("max_train_batches", "Batches/epoch"),
    ("seed", "Seed"),
    ("device", "Device"),
    ("nproc_per_node", "GPUs per run"),
    ("amp", "Mixed precision"),
    ("channels_last", "Channels-last"),
    ("compile", "torch.compile"),
    ("name", "Run name"),
)


def config_field_specs() -> dict[str, Any]:
    """name → engine ConfigField (type, default, help, choices, optional)."""
    from engine.trainer.config import config_fields

    return {f.name: f for f in config_fields()}


def text_parser(key: str) -> Any:
    """What a field of config key `key` reads its text with: the engine's one parser
    (`parse_field_text`), so the form says what a flag or a grid says for the same text."""
    from cnnlab_tui.widgets.forms import FieldError
    from engine.errors import ConfigError
    from engine.trainer.config import parse_field_text

    def parse(text: str) -> Any:
        try:
            return parse_field_text(key, text)
        except ConfigError as exc:
            raise FieldError("; ".join(exc.errors.values())) from None

    return parse


def option_parser(spec: Any) -> Any:
    """What a model option's field reads its text with: the engine's parser, then the
    model's own OptionSpec (its type and range), as `--model-opt` does."""
    from cnnlab_tui.widgets.forms import FieldError
    from engine.errors import CnnlabError
    from engine.trainer.config import MODEL_PREFIX, parse_field_text

    def parse(text: str) -> Any:
        try:
            return spec.parse(parse_field_text(MODEL_PREFIX + spec.name, text))
        except CnnlabError as exc:  # ConfigError (the text) or ModelError (the value)
            errors = getattr(exc, "errors", None)
            raise FieldError("; ".join(errors.values()) if errors else str(exc)) from None

    return parse


def field_kind(spec: Any) -> str:
    """The form kind for an engine ConfigField."""
    if spec.choices:
        return "choice"
    return {int: "int", float: "float", bool: "bool"}.get(spec.type, "str")


def default_config() -> dict[str, Any]:
    """The engine's default TrainConfig as a dict (the lab's defaults)."""
    from engine.trainer.config import TrainConfig

    return TrainConfig().to_dict()


def config_over(base: dict[str, Any], values: dict[str, Any]) -> Any:
    """The TrainConfig of the form: the config it was filled with (`base`, which holds the
    settings the form does not show) ← what its fields hold, by the engine's one merge rule
    (`apply_overrides`). Builds, never validates."""
    from engine.trainer.config import TrainConfig, apply_overrides

    return apply_overrides(TrainConfig.from_dict(base), values)


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
