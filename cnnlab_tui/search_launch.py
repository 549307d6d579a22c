"""From the New run form to a search that learns (Optuna): what the form holds beyond one
config when its Trials field is filled — a range typed in a number field (`1e-4..1e-1:log`)
or a list (`32, 64, 128`), the trials and the objective — and the engine's SearchSpec.

The counterpart of `sweep_launch` for `cnnlab sweep --search tpe`: all parsing and checking
is the engine's (`engine.sweeps.grid.parse_space`, the config's one parser;
`engine.sweeps.search.build_search`), so the form and the command line build the same
search (the same id) from the same text; this module maps form fields to space keys and the
engine's messages back to the field that caused them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cnnlab_tui.sweep_launch import (
    MODEL_PREFIX,
    NOT_SWEPT,
    NUMERIC_KINDS,
    SEEDS_KEY,
    SweepForm,
    _message,
    grid_key,
)

TRIALS_KEY = "search-trials"  # form key of the Trials field (empty: not a search)
OBJECTIVE_KEY = "search-objective"
FORM_KEYS = (TRIALS_KEY, OBJECTIVE_KEY)
RANGE_SEPARATOR = ".."
NO_SPACE = "type a range (1e-4..1e-1:log) or a list (16, 32) in a number field to search over"


@dataclass
class SearchForm:
    """A search the form describes: space (key → FieldRange or values), trials, objective;
    `form_keys` remembers which field gave each key (for its messages)."""

    space: dict[str, Any] = field(default_factory=dict)
    form_keys: dict[str, str] = field(default_factory=dict)
    trials: int = 0
    objective: str = "val_acc"

    def describe(self) -> str:
        """`search: lr 0.0001..0.1:log, batch_size × 3 · 20 trials by val_acc (TPE)`."""
        parts = [
            f"{key} {value.text()}" if hasattr(value, "text") else f"{key} × {len(value)}"
            for key, value in self.space.items()
        ]
        return f"search: {', '.join(parts)} · {self.trials} trials by {self.objective} (TPE)"


def form_fields() -> Iterator[Any]:
    """The form's Trials and Objective fields (under Seeds)."""
    from cnnlab_tui.widgets.forms import FormField
    from engine.sweeps.search import OBJECTIVES

    yield FormField(
        TRIALS_KEY, "Trials",
        placeholder="a search (Optuna TPE): N trials over the ranges 1e-4..1e-1:log and lists",
    )  # fmt: skip
    yield FormField(OBJECTIVE_KEY, "Objective", kind="choice", choices=list(OBJECTIVES))


def read_form(
    config: dict[str, Any], errors: dict[str, str], sweep: SweepForm, fields: Iterable[Any],
    text_of: Callable[[str], str], model: str | None,
) -> tuple[dict[str, Any], SearchForm | None]:  # fmt: skip
    """(config, search) once the form's own fields are read (`config`, `errors` and the
    `sweep` as `sweep_launch` found them): with Trials filled, the ranges and lists of the
    number `fields` are the search's space (a range's field is no error then; the sweep's
    axes are dropped), and `config` holds one corner of it."""
    try:
        trials = parse_trials(text_of(TRIALS_KEY))
    except ValueError as exc:
        errors[TRIALS_KEY] = str(exc)
        return config, None
    if trials is None:
        return config, None
    typed = [(f.key, f.kind, f.text) for f in fields]
    space, form_keys, space_errors = read_space(typed, model)
    for key in form_keys.values():
        errors.pop(key, None)  # a range is no single value: its field alone refused it
    errors.update(space_errors)
    sweep.axes.clear()  # the lists belong to the search
    if len(sweep.seeds) > 1:
        errors[SEEDS_KEY] = "a search trains each trial once, with Seed: leave Seeds empty"
    objective = text_of(OBJECTIVE_KEY) or "val_acc"
    return first_values(config, space), SearchForm(space, form_keys, trials, objective)


def is_space_text(kind: str, text: str) -> bool:
    """Does `text` in a field of `kind` give a search more than one value: a range in a
    number field (`1e-4..1e-1`, `:log`), or a list as a sweep takes it (`32, 64`)?"""
    text = text.strip()
    return kind in NUMERIC_KINDS and (RANGE_SEPARATOR in text or "," in text)


def parse_trials(text: str) -> int | None:
    """`` → None (one run or a sweep, not a search); a whole number ≥ 1; ValueError else."""
    text = text.strip()
    if not text:
        return None
    try:
        trials = int(text)
    except ValueError:
        raise ValueError(f"a number of trials, such as 20 (got {text!r})") from None
    if trials < 1:
        raise ValueError("at least 1 trial")
    return trials


def read_space(
    fields: Iterable[tuple[str, str, str]], model: str | None = None
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """(space, form key per space key, message per form key) of the form's
    `(form key, kind, text)` fields that give several values; each read by the engine's
    `parse_space`, exactly as `--grid KEY=TEXT` would be."""
    from engine.sweeps.grid import parse_space

    space: dict[str, Any] = {}
    form_keys: dict[str, str] = {}
    errors: dict[str, str] = {}
    for form_key, kind, text in fields:
        if not is_space_text(kind, text):
            continue
        if form_key in NOT_SWEPT:
            errors[form_key] = "one value here: a search trains each trial once, with it"
            continue
        key = grid_key(form_key)
        try:
            ((name, values),) = parse_space([(key, text)], model).items()
        except ValueError as exc:  # ConfigError naming the bad value
            errors[form_key] = _message(exc)
            continue
        space[name], form_keys[name] = values, form_key
    return space, form_keys, errors


def first_values(config: dict[str, Any], space: Mapping[str, Any]) -> dict[str, Any]:
    """The config of one corner of the space (a range's low end, a list's first value):
    what the form validates as a single run; `build_search` checks the rest."""
    changed = dict(config)
    for key, values in space.items():
        value = values.low if hasattr(values, "low") else values[0]
        if key.startswith(MODEL_PREFIX):
            options = dict(changed.get("model_options") or {})
            options[key[len(MODEL_PREFIX) :]] = value
            changed["model_options"] = options
        else:
            changed[key] = value
    return changed


def build_search_spec(config: Any, form: SearchForm) -> Any:
    """The engine SearchSpec (ConfigError when it refuses the search: see `field_errors`)."""
    from engine.sweeps.search import build_search
    from engine.trainer.config import TrainConfig

    base = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    return build_search(base, form.space, trials=form.trials, objective=form.objective)


def field_errors(exc: Exception, form: SearchForm) -> dict[str, str]:
    """form key → message for the engine's refusal of a search: `grid lr` goes back to the
    Learning-rate field, `trials` and `objective` to theirs, anything else keeps its key."""
    errors = getattr(exc, "errors", None)
    if not isinstance(errors, Mapping) or not errors:
        return {OBJECTIVE_KEY: str(exc)}
    mapped: dict[str, str] = {}
    for key, message in errors.items():
        # "grid lr", or "lr (lr=50)": the field, and which value it may try was refused
        name, _, value = key.removeprefix("grid ").partition(" (")
        name = name.strip()
        if name in form.form_keys:
            said = f"{value.rstrip(')')}: {message}" if value else str(message)
            mapped[form.form_keys[name]] = said
        elif key == "trials":
            mapped[TRIALS_KEY] = str(message)
        elif key == "grid" and not form.space:
            mapped[TRIALS_KEY] = NO_SPACE
        elif key == "objective":
            mapped[OBJECTIVE_KEY] = str(message)
        else:
            mapped[key] = str(message)
    return mapped
