"""From the New run form to a sweep: lists typed in numeric fields, a seeds field, a spec.

Typing `1e-2, 1e-3` in Learning rate (or `[4,8], [8,16]` in a list option such as widths)
turns that field into a grid axis; `Seeds` repeats every setting over several seeds. All
parsing and validation is the engine's (`engine.sweeps.parse_grid_values`, `parse_seeds`,
`build_spec`, `TrainConfig.validate`); this module only maps form fields to grid keys and
engine messages back to the field that caused them. A sweep carries the form's TrainConfig
as its base and the values parsed here, so nothing is parsed twice and no config is diffed
back into overrides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

OPTION_PREFIX = "option-"  # form keys of model options (as widgets.model_options)
MODEL_PREFIX = "model."  # grid keys of model options (as engine.sweeps)
SEEDS_KEY = "seeds"
NUMERIC_KINDS = ("int", "float")
# Numeric form fields that are not experimental settings a grid may sweep.
NOT_SWEPT = frozenset({"seed"})


@dataclass
class GridAxis:
    """One form field typed as a list: its grid key, the text and the parsed values."""

    form_key: str
    grid_key: str
    text: str
    values: list[Any]


@dataclass
class SweepForm:
    """What the form holds beyond one config: grid axes and seeds (one run when empty)."""

    axes: list[GridAxis] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)

    @property
    def is_sweep(self) -> bool:
        return bool(self.axes) or len(self.seeds) > 1

    @property
    def run_count(self) -> int:
        count = max(1, len(self.seeds))
        for axis in self.axes:
            count *= len(axis.values)
        return count

    def describe(self) -> str:
        """`sweep: lr × 2, 2 seeds = 4 runs` — shown next to the launch button."""
        parts = [f"{axis.grid_key} × {len(axis.values)}" for axis in self.axes]
        seeds = len(self.seeds) or 1
        parts.append(f"{seeds} seed{'s' if seeds != 1 else ''}")
        return f"sweep: {', '.join(parts)} = {self.run_count} runs"


def grid_key(form_key: str) -> str:
    """The engine grid key of a form field: `lr` → `lr`, `option-widths` → `model.widths`."""
    if form_key.startswith(OPTION_PREFIX):
        return MODEL_PREFIX + form_key[len(OPTION_PREFIX) :]
    return form_key


def is_list_text(kind: str, text: str) -> bool:
    """Does `text` in a field of `kind` list several values? Numbers: a comma
    (`1e-2, 1e-3`); list options: a bracketed item (`[4,8], [8,16]`)."""
    text = text.strip()
    if kind in NUMERIC_KINDS:
        return "," in text
    if kind == "list[int]":
        return text.startswith("[")
    return False


def _message(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if isinstance(errors, Mapping) and errors:
        return "; ".join(str(message) for message in errors.values())
    return str(exc)


def parse_axis(form_key: str, text: str, model: str | None = None) -> GridAxis:
    """Parse a list typed in one field (ValueError with the engine's message when wrong);
    a model option's values are checked by `model`'s own option specs."""
    from engine.sweeps import parse_grid_values

    if form_key in NOT_SWEPT:
        raise ValueError("one value here; put several seeds in Seeds")
    try:
        key, values = parse_grid_values(grid_key(form_key), text, model)
    except ValueError as exc:  # ConfigError naming the bad value
        raise ValueError(_message(exc)) from None
    if len(values) < 2:
        raise ValueError("list two or more values, or one without a comma")
    return GridAxis(form_key, key, text.strip(), values)


def parse_seeds_text(text: str, base_seed: int) -> list[int]:
    """`` (empty) or `1` → one run with the Seed field; `3` → 3 seeds from it; `0,5,7`."""
    from engine.sweeps import parse_seeds

    if not text.strip():
        return [base_seed]
    try:
        return parse_seeds(text, base_seed=base_seed)
    except ValueError as exc:
        raise ValueError(_message(exc)) from None


def with_value(config: Any, key: str, value: Any) -> Any:
    """A TrainConfig with grid key `key` set to `value` (model options inside
    model_options)."""
    if key.startswith(MODEL_PREFIX):
        options = {**config.model_options, key[len(MODEL_PREFIX) :]: value}
        return config.replace(model_options=options)
    return config.replace(**{key: value})


def first_values(config: Any, axes: Iterable[GridAxis]) -> Any:
    """The config of the sweep's first setting (what the form validates as a single run)."""
    for axis in axes:
        config = with_value(config, axis.grid_key, axis.values[0])
    return config


def axis_errors(
    config: Any, axes: list[GridAxis], known: Mapping[str, str] | None = None
) -> dict[str, str]:
    """form key → the engine's message for a listed value the config (a TrainConfig)
    refuses (values after the first; the first is checked with the form, whose `known`
    problems are not blamed on the list). One config per value, so a bad value is named
    under its own field."""
    from engine.errors import CnnlabError
    from engine.sweeps import format_value

    known = known or {}
    errors: dict[str, str] = {}
    for axis in axes:
        for value in axis.values[1:]:
            try:
                problems = with_value(config, axis.grid_key, value).validate()
            except CnnlabError as exc:
                problems = dict(getattr(exc, "errors", None) or {axis.grid_key: str(exc)})
            problems = {k: m for k, m in problems.items() if known.get(k) != m}
            if problems:
                field_name = axis.grid_key.removeprefix(MODEL_PREFIX)
                message = problems.get(field_name) or next(iter(problems.values()))
                errors[axis.form_key] = f"{format_value(value)}: {message}"
                break
    return errors


def build_sweep(config: Any, form: SweepForm) -> Any:
    """The engine SweepSpec for the form: its TrainConfig as the resolved base, the axes'
    parsed values as the grid (ConfigError when the engine refuses it)."""
    from engine.sweeps import build_spec

    seeds = form.seeds or [int(config.seed)]
    grid = {axis.grid_key: axis.values for axis in form.axes}
    return build_spec(config, grid, seeds)


def form_key_of(engine_key: str) -> str:
    """The form field an engine message is about: `lr`, a sweep point's `lr (lr=0.01)`,
    a grid's `grid model.widths` → `option-widths`."""
    key = engine_key.split(" (", 1)[0].removeprefix("grid ")
    if key.startswith(MODEL_PREFIX):
        return OPTION_PREFIX + key[len(MODEL_PREFIX) :]
    return key


def read_fields(
    fields: Iterable[Any], model: str | None = None
) -> tuple[dict[str, Any], dict[str, str], list[GridAxis]]:
    """(value per form key, message per form key, grid axes) of `FormField`s: a list typed
    in a numeric field becomes an axis, and its first value stands in for it (`model`:
    whose option fields these are)."""
    from cnnlab_tui.widgets.forms import FieldError

    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    axes: list[GridAxis] = []
    for form_field in fields:
        if is_list_text(form_field.kind, form_field.text):
            try:
                axis = parse_axis(form_field.key, form_field.text, model)
            except ValueError as exc:
                errors[form_field.key] = str(exc)
                continue
            axes.append(axis)
            values[form_field.key] = axis.values[0]
            continue
        try:
            values[form_field.key] = form_field.parse()
        except FieldError as exc:
            errors[form_field.key] = str(exc)
    return values, errors, axes
