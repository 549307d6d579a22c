"""The one training configuration: the `TrainConfig` dataclass, what each field means and
accepts, and the one way typed text becomes a field's value.

Everything a field is — help text, choices, range — sits on the field itself
(`field(metadata=…)`): the CLI flags, the dashboard form, the per-field checks of
`engine.trainer.validation` and the sweep grids are all generated from it, so a new field
is added in exactly one place. The name tuples (optimisers, augmentations, …) live here too
and the modules that implement them import them from here.

This module imports nothing heavy (no torch, no registries at import time), so anything may
build or read a config cheaply; registry names (data sets, models) are looked up only when a
config is validated or `config_fields()` is asked for their choices.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ConfigError

TASKS = ("classify", "dehaze")  # what a data set and a model are for
OPTIMIZERS = ("adam", "sgd", "adamw", "nesterov")
SCHEDULERS = ("none", "cosine", "onecycle")
AUGMENTATIONS = ("none", "flip", "crop_flip", "strong")
NORMALIZATIONS = ("dataset", "lab", "image", "none")
RESIZE_MODES = ("stretch", "letterbox")
LIGHTING = ("none", "night", "headlights")
TTA_MODES = ("none", "flip", "flip_translate")
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 8, 1024
MAX_PROCESSES = 64  # per machine: a server has at most 8-16 GPUs
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
MODEL_PREFIX = "model."  # `model.widths`: a model option where a field name is expected
NONE_WORDS = ("none", "null", "")
TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")


def setting(
    default: Any = dataclasses.MISSING,
    help: str = "",  # noqa: A002 - the word every consumer uses
    *,
    factory: Any = dataclasses.MISSING,
    choices: tuple[str, ...] = (),
    registry: str | None = None,
    low: float | None = None,
    high: float | None = None,
    above: float | None = None,
    below: float | None = None,
    max_length: int | None = None,
    pattern: tuple[re.Pattern[str], str] | None = None,
    folder: bool = False,
) -> Any:
    """A dataclass field with what a person needs to know about it as metadata.

    `low`/`high` are inclusive bounds, `above`/`below` exclusive ones; `registry` names
    where the allowed names live ("datasets", "models"); `pattern` is (regex, the allowed
    forms in words); `folder`: the value names a folder that must exist.
    """
    metadata = {
        "help": help,
        "choices": choices,
        "registry": registry,
        "low": low,
        "high": high,
        "above": above,
        "below": below,
        "max_length": max_length,
        "pattern": pattern,
        "folder": folder,
    }
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class TrainConfig:
    """Everything that defines one training run (defaults follow the lab: Adam, lr 1e-3)."""

    dataset: str = setting("shapes", "data set (see `cnnlab datasets`)", registry="datasets")
    data_root: str | None = setting(
        None,
        "data root or the data set's own folder (default: $CNNLAB_DATA or ./data)",
        folder=True,
    )
    image_size: int = setting(
        32, "images are resized to SIZE x SIZE pixels", low=MIN_IMAGE_SIZE, high=MAX_IMAGE_SIZE
    )
    resize: str = setting(
        "stretch",
        "how images become SIZE x SIZE: stretch as the lab does, or letterbox: keep the "
        "aspect ratio and pad (classification)",
        choices=RESIZE_MODES,
    )
    test_fraction: float | None = setting(
        None,
        "fraction of images held out for testing (default: the data set's own)",
        above=0,
        below=1,
    )
    val_fraction: float = setting(
        0.0, "fraction of training images held out for validation", low=0, below=1
    )
    model: str = setting("conv", "model name (see `cnnlab models`)", registry="models")
    model_options: dict[str, Any] = setting(help="model options, key=value", factory=dict)
    init_from: str = setting(
        "",
        "start from other weights: a run (ID, ID:best, ID:last), a .pt file, torchvision:NAME "
        "(ImageNet weights from the torch hub cache) or preset:NAME (that preset's run with "
        "this seed, trained first when missing); the classifier head is re-initialised when "
        "the classes differ; empty = random initialisation",
        max_length=500,
    )
    freeze_epochs: int = setting(
        0,
        "train only the classifier head for the first N epochs (fine-tuning; 0 = never)",
        low=0,
        high=100_000,
    )
    head_lr_mult: float = setting(
        1.0, "the classifier head learns at lr × this (fine-tuning)", above=0, high=1000
    )
    epochs: int = setting(10, "number of passes over the training set", low=1, high=100_000)
    batch_size: int = setting(64, "images per training step", low=1, high=65_536)
    lr: float = setting(1e-3, "learning rate", above=0, high=10)
    optimizer: str = setting(
        "adam", "optimiser (nesterov: SGD with Nesterov momentum)", choices=OPTIMIZERS
    )
    momentum: float = setting(0.9, "momentum (sgd and nesterov)", low=0, below=1)
    weight_decay: float = setting(0.0, "L2 weight decay", low=0)
    scheduler: str = setting(
        "none", "learning-rate schedule over the whole run", choices=SCHEDULERS
    )
    lookahead: bool = setting(
        False,
        "every 5 steps, move an average of the weights toward them and jump back onto it "
        "(airbench's lookahead EMA); the run ends on the average",
    )
    label_smoothing: float = setting(
        0.0, "label smoothing for the classification loss", low=0, below=1
    )
    augmentation: str = setting(
        "none", "augmentation applied to each training batch", choices=AUGMENTATIONS
    )
    normalize: str = setting(
        "dataset",
        "input normalisation for classification (dehazing always uses [0, 1])",
        choices=NORMALIZATIONS,
    )
    lighting: str = setting(
        "none",
        "relighting augmentation of training images (night: gamma, dimming, colour cast; "
        "headlights: night with a blue cast and a pair of headlights)",
        choices=LIGHTING,
    )
    fourier_style: float = setting(
        0.0,
        "transductive: each training image, with p = 0.5, takes the low-frequency Fourier "
        "amplitude (light, colour cast) of a random unlabelled test image; the window's "
        "half-side as a fraction of the image size (FDA); 0 = off",
        low=0,
        below=0.5,
    )
    train_crop: int | None = setting(
        None,
        "train on random SIZE x SIZE crops, evaluate whole images (dehazing)",
        low=MIN_IMAGE_SIZE,
        high=MAX_IMAGE_SIZE,
    )
    crops_per_image: int = setting(
        1,
        "with train_crop: random crops drawn per training pair in each epoch (more steps "
        "per whole-image test pass)",
        low=1,
        high=1000,
    )
    tta: str = setting(
        "none",
        "test-time augmentation of val/test predictions (flip: average with the mirror)",
        choices=TTA_MODES,
    )
    bn_adapt: bool = setting(
        False, "re-estimate BatchNorm statistics on each evaluated split's (unlabelled) images"
    )
    pseudo_label: float = setting(
        0.0,
        "self-training (transductive): from mid-run, val/test images predicted with at least "
        "this confidence join training under their predicted class; 0 = off",
        low=0,
        below=1,
    )
    seed: int = setting(
        0, "random seed: same seed and device give the same metrics", low=0, high=2**63 - 1
    )
    device: str = setting(
        "auto",
        "auto, cpu, cuda, cuda:N or mps",
        pattern=(DEVICE_PATTERN, "auto, cpu, cuda, cuda:N or mps"),
    )
    nproc_per_node: int = setting(
        1,
        "processes that train this one run together (DistributedDataParallel): one per GPU "
        "on CUDA (GPUs per run), or N shares of the CPU's cores with gloo; batch_size stays "
        "the global batch, split between them; 1 = one process",
        low=1,
        high=MAX_PROCESSES,
    )
    amp: bool = setting(
        False, "mixed precision on CUDA: bfloat16, or float16 with loss scaling on older GPUs"
    )
    channels_last: bool = setting(
        False, "channels-last (NHWC) memory for weights and inputs (fast on GPUs)"
    )
    compile: bool = setting(
        False, "torch.compile the model (slow first batches, then faster steps)"
    )
    sync_bn: bool = setting(
        False,
        "one run over several processes (nproc_per_node > 1): BatchNorm statistics over the "
        "whole batch of all of them (SyncBatchNorm, CUDA only)",
    )
    max_train_batches: int | None = setting(
        None, "stop each epoch after this many batches", low=1, high=10**9
    )
    name: str = setting("", "a free-text label for the run", max_length=80)
    preset: str | None = setting(None, "preset this config started from (a label)")

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
        """A copy with some fields set as given (unknown names raise `ConfigError`);
        `model_options`, if given, replaces the options whole (see `apply_overrides`)."""
        merged = self.to_dict()
        merged.update(changes)
        return TrainConfig.from_dict(merged)


def apply_overrides(base: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    """`base` ← `overrides`: the one rule for laying what a person chose over a config.

    Fields are replaced; model options merge key by key, except that choosing another model
    drops the base's options (they were meant for its own model). Used for defaults ←
    preset ← flags (`engine.presets.resolve_config`) and for a resumed run's saved config.
    """
    changes = dict(overrides)
    if "model_options" in changes or "model" in changes:
        same_model = changes.get("model", base.model) == base.model
        kept = dict(base.model_options) if same_model else {}
        changes["model_options"] = {**kept, **(changes.get("model_options") or {})}
    return base.replace(**changes)


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


_TYPES = {"str": str, "int": int, "float": float, "bool": bool}


def field_type(annotation: str) -> tuple[type, bool]:
    """(base type, optional) from a string annotation such as 'int | None'."""
    parts = [p.strip() for p in str(annotation).split("|")]
    optional = "None" in parts
    base = next(p for p in parts if p != "None")
    return (dict if base.startswith("dict") else _TYPES[base]), optional


_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def config_fields(*, registries: bool = True) -> tuple[ConfigField, ...]:
    """Metadata for every `TrainConfig` field, in declaration order.

    With `registries` the `choices` of `dataset` and `model` are read from their registries
    (which loads the model zoo, and with it torch); without, they are None — enough for
    anything that only needs names, types and help (CLI flags, a first paint).
    """
    choices: dict[str, tuple[str, ...]] = {}
    if registries:
        from engine.datasets import DATASETS
        from engine.models import list_models

        choices = {
            "datasets": tuple(DATASETS),
            "models": tuple(info.name for info in list_models()),
        }
    result = []
    for f in _FIELDS.values():
        kind, optional = field_type(f.type)
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        meta = f.metadata
        shown = meta["choices"] or choices.get(meta["registry"] or "") or None
        result.append(ConfigField(f.name, kind, default, meta["help"], shown, optional))
    return tuple(result)


def field_metadata(name: str) -> dict[str, Any]:
    """The metadata `setting()` put on field `name` (KeyError for an unknown field)."""
    return dict(_FIELDS[name].metadata)


# --------------------------------------------------------------------- typed text → value
# One parser for every place a person types a value: CLI flags, `--model-opt`, `--grid`
# lists, the dashboard's fields. The rules are in docs/architecture.md ("Typed values").


def field_key(name: str) -> str:
    """`batch-size` → `batch_size`; `model.kernel-size` → `model.kernel_size`."""
    name = name.strip()
    if name.startswith(MODEL_PREFIX):
        return MODEL_PREFIX + name[len(MODEL_PREFIX) :].replace("-", "_")
    return name.replace("-", "_")


def split_values(text: str) -> list[str]:
    """Split on top-level commas so `[4,8],[8,16]` gives two items, not four
    (ValueError for unbalanced brackets)."""
    items: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced ']' in {text!r}")
        if char == "," and depth == 0:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if depth != 0:
        raise ValueError(f"unbalanced '[' in {text!r}")
    items.append("".join(current).strip())
    return items


def _scalar(text: str) -> Any:
    """A free-form value: a whole number, else a finite number, else true/false/none, else
    the text itself ("hand", "nan")."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if math.isfinite(number):
        return number
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    return text


def _bracketed(text: str) -> bool:
    """True when `text` is one bracketed list: its first `[` closes at its last character."""
    if not (text.startswith("[") and text.endswith("]")):
        return False
    depth = 0
    for position, char in enumerate(text):
        depth += (char == "[") - (char == "]")
        if depth == 0:
            return position == len(text) - 1
    return False


def parse_option_value(text: str) -> Any:
    """A model option's typed value, before its model's registry coerces it: `8,16` and
    `[8,16]` → [8, 16]; `16,` → [16]; `[4,8],[8,16]` → [[4, 8], [8, 16]]; `1e-3` → 0.001;
    `3` → 3; `true` → True; `hand` → "hand"."""
    text = text.strip()
    if _bracketed(text):
        text = text[1:-1]
    elif "," not in text:
        return _scalar(text)
    return [parse_option_value(item) for item in split_values(text) if item]


def format_value(value: Any) -> str:
    """A value as a person would type it back (`[4,8]`, `0.001`, `none`, `true`): what
    `parse_field_text` reads as the same value."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_value(item) for item in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        number = float(text)  # "1e3" is a fine way to write 1000 …
        if not number.is_integer():  # … but 3.5 batches is not (and nan/inf are not)
            raise ValueError(text) from None
        return int(number)


def _typed(name: str, text: str) -> Any:
    """`text` as the value of config field `name` (ValueError with the message)."""
    if name not in _FIELDS:
        raise ValueError("unknown setting")
    kind, optional = field_type(_FIELDS[name].type)
    text = text.strip()
    if optional and text.lower() in NONE_WORDS:
        return None
    if kind is int:
        try:
            return _whole_number(text)
        except (ValueError, OverflowError):
            raise ValueError(f"must be a whole number, got {text!r}") from None
    if kind is float:
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise ValueError(f"must be a number, got {text!r}")
        return number
    if kind is bool:
        if text.lower() in TRUE_WORDS:
            return True
        if text.lower() in FALSE_WORDS:
            return False
        raise ValueError(f"must be true or false, got {text!r}")
    if kind is dict:
        raise ValueError(f"set model options one by one: {MODEL_PREFIX}<option>=VALUE")
    return text


def parse_field_text(name: str, text: str) -> Any:
    """The value a person means by `text` in field `name` — a `TrainConfig` field (snake or
    kebab case) or a model option (`model.<option>`).

    Only the text is read here (whole number, number, true/false, none, text, list);
    whether the value is allowed (ranges, choices, registry names) is validation's job, so
    both say the same thing wherever the value was typed. Raises `ConfigError({name:
    message})`.
    """
    key = field_key(name)
    try:
        if key.startswith(MODEL_PREFIX):
            return parse_option_value(text)
        return _typed(key, text)
    except ValueError as exc:
        raise ConfigError({key: str(exc)}) from None


def parse_field_list(name: str, text: str) -> list[Any]:
    """Several values for one field, as a sweep lists them: `1e-2, 1e-3`; list-valued model
    options each in brackets: `[4,8], [8,16]`. Each item is read by `parse_field_text`, so
    it gives the same value (or the same message) as typed alone. `ConfigError({name: …})`
    also for an empty item, unbalanced brackets or a repeated value."""
    key = field_key(name)
    try:
        pieces = split_values(text)
    except ValueError as exc:
        raise ConfigError({key: str(exc)}) from None
    if any(piece == "" for piece in pieces):
        raise ConfigError({key: f"empty value in {text!r}"})
    values = [parse_field_text(key, piece) for piece in pieces]
    if len({format_value(value) for value in values}) != len(values):
        raise ConfigError({key: f"repeated value in {text!r}"})
    return values


RANGE_SEPARATOR = ".."
LOG_SUFFIX = ":log"


@dataclass(frozen=True)
class FieldRange:
    """A search range of one number field: `low..high` (inclusive), on a log scale with
    `:log`. Whole-number fields give whole-number ends (a search draws whole numbers)."""

    low: float | int
    high: float | int
    log: bool = False

    @property
    def integer(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int)

    def text(self) -> str:
        """As typed: `1e-04..0.1:log`."""
        return f"{format_value(self.low)}..{format_value(self.high)}" + (
            LOG_SUFFIX if self.log else ""
        )

    def to_dict(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high, "log": self.log}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FieldRange:
        return cls(data["low"], data["high"], bool(data.get("log", False)))


def parse_field_range(name: str, text: str) -> FieldRange:
    """`1e-4..1e-1:log` in field `name` → FieldRange; each end is read by
    `parse_field_text`, so it is the same number (or the same message) as typed alone.
    `ConfigError({name: …})` for a field that is not a number, low ≥ high, or a log range
    that does not stay above 0."""
    key = field_key(name)
    body = text.strip()
    log = body.lower().endswith(LOG_SUFFIX)
    if log:
        body = body[: -len(LOG_SUFFIX)]
    low_text, sep, high_text = body.partition(RANGE_SEPARATOR)
    if not sep or not low_text.strip() or not high_text.strip():
        raise ConfigError({key: f"a range is LOW..HIGH (or LOW..HIGH:log), got {text!r}"})
    low, high = parse_field_text(key, low_text), parse_field_text(key, high_text)
    numbers = [v for v in (low, high) if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(numbers) != 2:
        raise ConfigError({key: f"only number settings take a range, got {text!r}"})
    if isinstance(low, int) != isinstance(high, int):
        low, high = float(low), float(high)
    if not low < high:
        raise ConfigError({key: f"the range's low end must be below its high end in {text!r}"})
    if log and low <= 0:
        raise ConfigError({key: f"a log range must stay above 0, got {text!r}"})
    return FieldRange(low, high, log)


def parse_field_space(name: str, text: str) -> FieldRange | list[Any]:
    """What a search may try for field `name`: a range (`a..b`, `a..b:log`) or a list of
    values (`32,64,128`, read by `parse_field_list`)."""
    if RANGE_SEPARATOR in text and not text.strip().startswith("["):
        return parse_field_range(name, text)
    return parse_field_list(name, text)


def parse_model_option(text: str) -> tuple[str, Any]:
    """Parse one `key=value` model option; raises `ConfigError` on a malformed one."""
    key, sep, value = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key.isidentifier():
        raise ConfigError({"model_options": f"expected key=value, got {text!r}"})
    return key, parse_field_text(MODEL_PREFIX + key, value)
