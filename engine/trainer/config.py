"""The one training configuration: a dataclass, its validation, and field metadata.

Every consumer (CLI flags, dashboard form, run store, presets) is generated from
`config_fields()`, so a new field is added in exactly one place. Validation returns
field → message pairs meant for a person, because the dashboard shows them next to the
field and the CLI prints them as a list.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.datasets.augment import AUGMENTATIONS, NORMALIZATIONS
from engine.datasets.decode import RESIZE_MODES
from engine.errors import ConfigError
from engine.recipes.lighting import LIGHTING
from engine.recipes.tta import TTA_MODES

OPTIMIZERS = ("adam", "sgd", "adamw")
SCHEDULERS = ("none", "cosine", "onecycle")
_DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


@dataclass
class TrainConfig:
    """Everything that defines one training run (defaults follow the lab: Adam, lr 1e-3)."""

    dataset: str = "shapes"
    data_root: str | None = None
    image_size: int = 32
    resize: str = "stretch"
    test_fraction: float | None = None
    val_fraction: float = 0.0
    model: str = "conv"
    model_options: dict[str, Any] = field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler: str = "none"
    label_smoothing: float = 0.0
    augmentation: str = "none"
    normalize: str = "dataset"
    lighting: str = "none"
    train_crop: int | None = None
    tta: str = "none"
    bn_adapt: bool = False
    pseudo_label: float = 0.0
    seed: int = 0
    device: str = "auto"
    amp: bool = False
    channels_last: bool = False
    compile: bool = False
    max_train_batches: int | None = None
    name: str = ""
    preset: str | None = None

    def validate(self) -> dict[str, str]:
        """Field → message for every invalid field; empty when the config is usable."""
        from engine.trainer.validation import validate_config

        return validate_config(self)

    def ensure_valid(self) -> TrainConfig:
        """Return self, or raise `ConfigError` listing every invalid field."""
        errors = self.validate()
        if errors:
            raise ConfigError(errors)
        return self

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (what `config.json` holds)."""
        data = dataclasses.asdict(self)
        data["model_options"] = dict(self.model_options)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a dict such as `config.json`; unknown keys raise `ConfigError`."""
        if not isinstance(data, dict):
            raise ConfigError(
                {"config": f"expected a mapping of settings, got {type(data).__name__}"}
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError({key: "unknown setting" for key in unknown})
        values = dict(data)
        if isinstance(values.get("model_options"), dict):
            values["model_options"] = dict(values["model_options"])
        return cls(**values)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (unknown names raise `ConfigError`)."""
        merged = self.to_dict()
        merged.update(changes)
        return TrainConfig.from_dict(merged)


@dataclass(frozen=True)
class ConfigField:
    """Metadata for one `TrainConfig` field, used to generate CLI flags and form inputs."""

    name: str
    type: type
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    optional: bool = False

    @property
    def flag(self) -> str:
        """The CLI flag (`--batch-size`)."""
        return "--" + self.name.replace("_", "-")


_HELP = {
    "dataset": "data set (see `cnnlab datasets`)",
    "data_root": "data root or the data set's own folder (default: $CNNLAB_DATA or ./data)",
    "image_size": "images are resized to SIZE x SIZE pixels",
    "resize": "how images become SIZE x SIZE: stretch as the lab does, or letterbox: keep "
    "the aspect ratio and pad (classification)",
    "test_fraction": "fraction of images held out for testing (default: the data set's own)",
    "val_fraction": "fraction of training images held out for validation",
    "model": "model name (see `cnnlab models`)",
    "model_options": "model options, key=value",
    "epochs": "number of passes over the training set",
    "batch_size": "images per training step",
    "lr": "learning rate",
    "optimizer": "optimiser",
    "momentum": "momentum (sgd only)",
    "weight_decay": "L2 weight decay",
    "scheduler": "learning-rate schedule over the whole run",
    "label_smoothing": "label smoothing for the classification loss",
    "augmentation": "augmentation applied to each training batch",
    "normalize": "input normalisation for classification (dehazing always uses [0, 1])",
    "lighting": "relighting augmentation of training images (night: gamma, dimming, colour "
    "cast; headlights: night with a blue cast and a pair of headlights)",
    "train_crop": "train on random SIZE x SIZE crops, evaluate whole images (dehazing)",
    "tta": "test-time augmentation of val/test predictions (flip: average with the mirror)",
    "bn_adapt": "re-estimate BatchNorm statistics on each evaluated split's (unlabelled) images",
    "pseudo_label": "self-training (transductive): from mid-run, val/test images predicted with "
    "at least this confidence join training under their predicted class; 0 = off",
    "seed": "random seed: same seed and device give the same metrics",
    "device": "auto, cpu, cuda, cuda:N or mps",
    "amp": "mixed precision on CUDA: bfloat16, or float16 with loss scaling on older GPUs",
    "channels_last": "channels-last (NHWC) memory for weights and inputs (fast on GPUs)",
    "compile": "torch.compile the model (slow first batches, then faster steps)",
    "max_train_batches": "stop each epoch after this many batches",
    "name": "a free-text label for the run",
    "preset": "preset this config started from",
}

_CHOICES = {
    "optimizer": OPTIMIZERS,
    "scheduler": SCHEDULERS,
    "augmentation": AUGMENTATIONS,
    "normalize": NORMALIZATIONS,
    "resize": RESIZE_MODES,
    "lighting": LIGHTING,
    "tta": TTA_MODES,
}

_TYPES = {"str": str, "int": int, "float": float, "bool": bool}


def _field_type(annotation: str) -> tuple[type, bool]:
    """(base type, optional) from a string annotation such as 'int | None'."""
    parts = [p.strip() for p in annotation.split("|")]
    optional = "None" in parts
    base = next(p for p in parts if p != "None")
    return (dict if base.startswith("dict") else _TYPES[base]), optional


def config_fields() -> tuple[ConfigField, ...]:
    """Metadata for every `TrainConfig` field, in declaration order.

    `choices` of `dataset` and `model` come from their registries at call time.
    """
    from engine.datasets import DATASETS
    from engine.models import list_models

    choices = {
        **_CHOICES,
        "dataset": tuple(DATASETS),
        "model": tuple(info.name for info in list_models()),
    }
    result = []
    for f in dataclasses.fields(TrainConfig):
        kind, optional = _field_type(str(f.type))
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        result.append(
            ConfigField(f.name, kind, default, _HELP[f.name], choices.get(f.name), optional)
        )
    return tuple(result)


def parse_option_value(text: str) -> Any:
    """Turn a typed-in option value into a Python value: int, float, bool, None, or a list.

    "8,16,32" → [8, 16, 32]; "1e-3" → 0.001; "true" → True; "hand" → "hand".
    """
    text = text.strip()
    if "," in text:
        return [parse_option_value(part) for part in text.split(",") if part.strip()]
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for convert in (int, float):
        try:
            value = convert(text)
        except ValueError:
            continue
        if isinstance(value, float) and not math.isfinite(value):
            break
        return value
    return text


def parse_model_option(text: str) -> tuple[str, Any]:
    """Parse one `key=value` model option; raises `ConfigError` on a malformed one."""
    key, sep, value = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key.isidentifier():
        raise ConfigError({"model_options": f"expected key=value, got {text!r}"})
    return key, parse_option_value(value)


def device_spec_ok(spec: str) -> bool:
    """True when `spec` has the form auto|cpu|mps|cuda|cuda:N (availability is separate)."""
    return isinstance(spec, str) and bool(_DEVICE_PATTERN.match(spec))


def path_exists(text: str) -> bool:
    return Path(text).expanduser().exists()
