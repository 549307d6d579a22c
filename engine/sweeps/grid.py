"""Sweep grids: parse `key=v1,v2` specs and expand them × seeds into sweep points.

Grid keys name a `TrainConfig` field (kebab or snake case) or a model option
(`model.<option>`). Values are parsed from text the way the CLI parses flags, so
`--grid lr=1e-2,1e-3` and the dashboard's "1e-2, 1e-3" field give the same floats.
List-valued model options are written in brackets: `model.widths=[4,8],[8,16]`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ConfigError

MODEL_PREFIX = "model."
# Fields a grid may not sweep: they name the run, not an experimental setting, or are
# set by the sweep itself (seed comes from --seeds).
NOT_SWEEPABLE = frozenset({"name", "preset", "model_options", "seed"})
_NONE_WORDS = frozenset({"none", "null", ""})
_TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
_FALSE_WORDS = frozenset({"false", "no", "off", "0"})


@dataclass(frozen=True)
class SweepPoint:
    """One run of a sweep: a setting of the swept keys plus a seed."""

    index: int
    setting: dict[str, Any] = field(hash=False)
    seed: int = 0

    @property
    def label(self) -> str:
        """`lr=0.01 batch_size=32` — the setting without the seed, for tables and legends."""
        return setting_label(self.setting)


def setting_label(setting: Mapping[str, Any]) -> str:
    """A short stable text for a setting, e.g. `lr=0.001 model.widths=[4,8]`."""
    if not setting:
        return "(base)"
    return " ".join(f"{key}={format_value(value)}" for key, value in setting.items())


def format_value(value: Any) -> str:
    """Values as a person would type them back (`[4,8]`, `0.001`, `none`)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_value(item) for item in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def normalize_key(key: str) -> str:
    """`batch-size` → `batch_size`; `model.kernel-size` → `model.kernel_size`."""
    key = key.strip()
    if key.startswith(MODEL_PREFIX):
        return MODEL_PREFIX + key[len(MODEL_PREFIX) :].replace("-", "_")
    return key.replace("-", "_")


def split_values(text: str) -> list[str]:
    """Split on top-level commas so `[4,8],[8,16]` gives two items, not four."""
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


def parse_scalar(text: str) -> Any:
    """Free-form value (model options): int, then float, then bool/none, then text."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        return [parse_scalar(item) for item in split_values(inner)] if inner else []
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    return text


@dataclass(frozen=True)
class FieldType:
    """What a grid needs to know about one config field to parse its values."""

    kind: type
    optional: bool = False
    choices: tuple[str, ...] | None = None


def parse_typed(text: str, field_type: FieldType) -> Any:
    """Parse `text` into a config field's type (raises ValueError with the reason)."""
    kind = field_type.kind
    text = text.strip()
    if field_type.optional and text.lower() in _NONE_WORDS:
        return None
    if kind is bool:
        lowered = text.lower()
        if lowered in _TRUE_WORDS:
            return True
        if lowered in _FALSE_WORDS:
            return False
        raise ValueError(f"expected true or false, got {text!r}")
    if kind is int:
        try:
            return int(text)
        except ValueError:
            number = float(text)  # "1e3" is a fine way to write 1000 …
            if not number.is_integer():  # … but 3.5 batches is not
                raise ValueError(f"expected a whole number, got {text!r}") from None
            return int(number)
    if kind is float:
        return float(text)
    if kind is str:
        if not text:
            raise ValueError("expected a value, got nothing")
        if field_type.choices and text not in field_type.choices:
            raise ValueError(f"expected one of {', '.join(field_type.choices)}")
        return text
    raise ValueError(f"this field cannot be swept (it holds a {kind.__name__})")


def config_field_types() -> dict[str, FieldType]:
    """Field name → FieldType for every TrainConfig field, from the trainer's metadata."""
    from engine.trainer.config import config_fields

    return {f.name: FieldType(f.type, f.optional, f.choices) for f in config_fields()}


def coerce_model_option(key: str, value: Any, default: Any) -> Any:
    """Match a parsed model-option value to the type of the option's default."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise ValueError(f"model option '{key}' expects true or false, got {value!r}")
    if isinstance(default, (list, tuple)):
        return list(value) if isinstance(value, (list, tuple)) else [value]
    if isinstance(default, int) and isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(default, float) and isinstance(value, (int, float)):
        return float(value)
    if isinstance(default, str) and value is not None:
        return str(value)
    if default is None:
        return value
    raise ValueError(f"model option '{key}' expects a {type(default).__name__}, got {value!r}")


def parse_grid_values(
    key: str,
    text: str,
    field_types: Mapping[str, FieldType],
    model_options: Mapping[str, Any] | None = None,
) -> tuple[str, list[Any]]:
    """Parse the values text for one grid key; returns (normalized key, values).

    `model_options` holds the chosen model's option defaults (from the model registry);
    None skips the model-option check (the model is not known yet).
    Raises ConfigError naming the key or value that is wrong.
    """
    name = normalize_key(key)
    try:
        pieces = split_values(text)
    except ValueError as exc:
        raise ConfigError({f"grid {name}": str(exc)}) from None
    if any(piece == "" for piece in pieces):
        raise ConfigError({f"grid {name}": f"empty value in {text!r}"})
    values: list[Any] = []
    for piece in pieces:
        try:
            values.append(_parse_one(name, piece, field_types, model_options))
        except ConfigError:
            raise
        except ValueError as exc:
            raise ConfigError({f"grid {name}": f"bad value {piece!r}: {exc}"}) from None
    if len(set(map(format_value, values))) != len(values):
        raise ConfigError({f"grid {name}": f"repeated value in {text!r}"})
    return name, values


def _parse_one(
    name: str,
    piece: str,
    field_types: Mapping[str, FieldType],
    model_options: Mapping[str, Any] | None,
) -> Any:
    if name.startswith(MODEL_PREFIX):
        option = name[len(MODEL_PREFIX) :]
        if not option:
            raise ConfigError({f"grid {name}": "name the model option: model.<option>"})
        if model_options is None:
            return parse_scalar(piece)
        if option not in model_options:
            known = ", ".join(sorted(model_options)) or "none"
            raise ConfigError({f"grid {name}": f"the model has no option '{option}' ({known})"})
        return coerce_model_option(option, parse_scalar(piece), model_options[option])
    if name not in field_types or name in NOT_SWEEPABLE:
        hint = " (use --seeds for seeds)" if name == "seed" else ""
        raise ConfigError({f"grid {name}": f"'{name}' is not a config field to sweep{hint}"})
    return parse_typed(piece, field_types[name])


def parse_grid_arg(arg: str) -> tuple[str, str]:
    """Split one `--grid key=v1,v2` argument into (key, values text)."""
    key, sep, values = arg.partition("=")
    if not sep or not key.strip():
        raise ConfigError({"grid": f"expected KEY=V1,V2,… but got {arg!r}"})
    return key.strip(), values


def parse_seeds(text: str | int | Sequence[int], base_seed: int = 0) -> list[int]:
    """`3` → three seeds from `base_seed`; `0,5,7` → exactly those; a list stays a list."""
    if isinstance(text, int) and not isinstance(text, bool):
        count = text
    elif isinstance(text, str):
        pieces = [piece.strip() for piece in text.split(",") if piece.strip()]
        try:
            numbers = [int(piece) for piece in pieces]
        except ValueError:
            raise ConfigError(
                {"seeds": f"expected a count or a list of whole numbers: {text!r}"}
            ) from None
        if len(numbers) != 1 or "," in text:
            return _checked_seed_list(numbers)
        count = numbers[0]
    else:
        return _checked_seed_list([int(seed) for seed in text])
    if count < 1:
        raise ConfigError({"seeds": f"the number of seeds must be at least 1, got {count}"})
    return list(range(base_seed, base_seed + count))


def _checked_seed_list(seeds: list[int]) -> list[int]:
    if not seeds:
        raise ConfigError({"seeds": "no seeds given"})
    if len(set(seeds)) != len(seeds):
        raise ConfigError({"seeds": f"repeated seed in {seeds}"})
    return seeds


def expand_grid(grid: Mapping[str, Sequence[Any]], seeds: Iterable[int] = (0,)) -> list[SweepPoint]:
    """Every combination of the grid's values, each once per seed.

    Order: settings in grid order (the last key varies fastest), seeds innermost, so
    the first runs of a sweep already cover one full setting over all its seeds.
    """
    seeds = list(seeds)
    keys = list(grid)
    for key in keys:
        if not list(grid[key]):
            raise ConfigError({f"grid {key}": "no values"})
    combos = itertools.product(*(list(grid[key]) for key in keys)) if keys else [()]
    points: list[SweepPoint] = []
    for combo in combos:
        setting = dict(zip(keys, combo, strict=True))
        for seed in seeds:
            points.append(SweepPoint(index=len(points), setting=setting, seed=seed))
    return points
