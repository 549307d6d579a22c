"""Sweep grids: parse `key=v1,v2` specs and expand them × seeds into sweep points.

Grid keys name a `TrainConfig` field (kebab or snake case) or a model option
(`model.<option>`). Values are read by the config's one text parser
(`engine.trainer.config.parse_field_list`), so `--grid lr=1e-2,1e-3`, `--lr 1e-2` and the
dashboard's "1e-2, 1e-3" give the same floats, or the same message. List-valued model
options are written in brackets: `model.widths=[4,8],[8,16]`.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ConfigError, ModelError
from engine.trainer.config import (
    MODEL_PREFIX,
    RANGE_SEPARATOR,
    FieldRange,
    TrainConfig,
    field_key,
    format_value,
    parse_field_list,
    parse_field_range,
)

# Fields a grid may not sweep: they name the run, not an experimental setting, or are
# set by the sweep itself (seed comes from --seeds).
NOT_SWEEPABLE = frozenset({"name", "preset", "model_options", "seed"})
_FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(TrainConfig))


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


def check_grid_key(name: str) -> None:
    """ConfigError unless `name` is a config field one may sweep or a `model.<option>`."""
    if name.startswith(MODEL_PREFIX):
        if name == MODEL_PREFIX:
            raise ConfigError({f"grid {name}": "name the model option: model.<option>"})
        return
    if name not in _FIELD_NAMES or name in NOT_SWEEPABLE:
        hint = " (use --seeds for seeds)" if name == "seed" else ""
        raise ConfigError({f"grid {name}": f"'{name}' is not a config field to sweep{hint}"})


def _option_values(name: str, values: list[Any], model: str) -> list[Any]:
    """Model-option values checked and coerced by the model's own option spec
    (`model.dropout=0,0.5` → floats; `model.widths=4,8` → [4], [8])."""
    from engine.models import get_model_info

    option = name[len(MODEL_PREFIX) :]
    try:
        info = get_model_info(model)
    except ModelError:
        return values  # an unknown model: validation names it
    try:
        spec = info.spec(option)
        return [spec.parse(value) for value in values]
    except ModelError as exc:
        raise ConfigError({f"grid {name}": str(exc)}) from None


def parse_grid_values(key: str, text: str, model: str | None = None) -> tuple[str, list[Any]]:
    """Parse the values text for one grid key; returns (normalized key, values).

    `model` is the model the options belong to (its option specs coerce and check them);
    None leaves model options as typed (the grid sweeps the model itself: each point's
    validation names an option its model does not take). Raises ConfigError keyed
    `grid <key>` with the parser's own message.
    """
    name = field_key(key)
    check_grid_key(name)
    if RANGE_SEPARATOR in text and not text.strip().startswith("["):
        raise ConfigError(
            {f"grid {name}": f"{text!r} is a range: ranges are searched, add --search tpe "
             "--trials N (a grid lists its values: a,b,c)"}
        )  # fmt: skip
    try:
        values = parse_field_list(name, text)
    except ConfigError as exc:
        raise ConfigError({f"grid {name}": exc.errors[name]}) from None
    if name.startswith(MODEL_PREFIX) and model is not None:
        values = _option_values(name, values, model)
    return name, values


def parse_grid(
    grid_args: Sequence[tuple[str, str]], model: str | None = None
) -> dict[str, list[Any]]:
    """`[(key, values text), …]` (one per `--grid`) → {normalized key: values}, in order;
    model options are checked against `model` unless the grid sweeps the model itself."""
    sweeps_model = any(field_key(key) == "model" for key, _ in grid_args)
    grid: dict[str, list[Any]] = {}
    for key, text in grid_args:
        name, values = parse_grid_values(key, text, None if sweeps_model else model)
        if name in grid:
            raise ConfigError({f"grid {name}": "given twice; list all its values in one --grid"})
        grid[name] = values
    return grid


def parse_space(
    grid_args: Sequence[tuple[str, str]], model: str | None = None
) -> dict[str, FieldRange | list[Any]]:
    """A search's `--grid` arguments → {key: FieldRange or values}: `a..b[:log]` is a range
    (`parse_field_range`), anything else a list read exactly as a grid's."""
    sweeps_model = any(field_key(key) == "model" for key, _ in grid_args)
    space: dict[str, FieldRange | list[Any]] = {}
    for key, text in grid_args:
        name = field_key(key)
        check_grid_key(name)
        if name in space:
            raise ConfigError({f"grid {name}": "given twice; one --grid per setting"})
        if RANGE_SEPARATOR in text and not text.strip().startswith("["):
            try:
                space[name] = parse_field_range(name, text)
            except ConfigError as exc:
                raise ConfigError({f"grid {name}": exc.errors[name]}) from None
        else:
            space[name] = parse_grid_values(key, text, None if sweeps_model else model)[1]
    return space


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
