"""Typed model options: one `OptionSpec` per option, so forms and flags can be generated.

A model declares its options once (name, kind, default, bounds, help). The registry fills in
defaults and coerces what a person typed — a CLI string like ``"1,2,5"`` or a JSON value from
a saved config — and every bad value becomes a `ModelError` that names the option.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from engine.errors import ModelError

OptionKind = Literal["int", "float", "list[int]", "choice"]
OPTION_KINDS: tuple[str, ...] = ("int", "float", "list[int]", "choice")


@dataclass(frozen=True)
class OptionSpec:
    """One model option: what a UI needs to draw a field for it and validate the input.

    `minimum`/`maximum` bound the value (every item, for ``list[int]``); `min_items` is the
    shortest accepted list; `choices` lists the allowed values of a ``choice`` option.
    """

    name: str
    kind: OptionKind
    default: Any
    help: str = ""
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    min_items: int = 1

    def __post_init__(self) -> None:
        if self.kind not in OPTION_KINDS:
            raise ValueError(f"option '{self.name}': unknown kind {self.kind!r}")
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"option '{self.name}': a choice option needs choices")
        if self.kind == "list[int]":  # keep defaults immutable and comparable
            object.__setattr__(self, "default", tuple(self.default))
        self.parse(self.default)  # a spec whose default does not validate is a bug

    def parse(self, value: Any) -> Any:
        """`value` coerced to this option's type and checked; raises ModelError if it is bad.

        Strings are accepted for every kind (what a CLI flag or a text field gives).
        """
        if self.kind == "int":
            return self._check_bounds(_to_int(self.name, value))
        if self.kind == "float":
            return self._check_bounds(_to_float(self.name, value))
        if self.kind == "list[int]":
            return self._parse_int_list(value)
        return self._parse_choice(value)

    def describe(self) -> str:
        """A short type description for tables and form hints, e.g. ``int ≥ 1``."""
        if self.kind == "choice":
            return " | ".join(self.choices)
        bounds = []
        if self.minimum is not None:
            bounds.append(f"≥ {_fmt(self.minimum)}")
        if self.maximum is not None:
            bounds.append(f"≤ {_fmt(self.maximum)}")
        return " ".join([self.kind, *bounds])

    def _parse_int_list(self, value: Any) -> list[int]:
        if isinstance(value, str):
            text = value.strip().strip("[]()")
            parts = [p for p in text.replace(",", " ").split() if p]
        elif isinstance(value, Sequence):
            parts = list(value)
        else:
            parts = [value]
        items = [self._check_bounds(_to_int(self.name, p)) for p in parts]
        if len(items) < self.min_items:
            raise ModelError(
                f"option '{self.name}' needs at least {self.min_items} value(s), got {len(items)}"
            )
        return items

    def _parse_choice(self, value: Any) -> str:
        text = str(value).strip()
        if text not in self.choices:
            raise ModelError(
                f"option '{self.name}' must be one of {', '.join(self.choices)}; got {value!r}"
            )
        return text

    def _check_bounds(self, number: float) -> Any:
        if self.minimum is not None and number < self.minimum:
            raise ModelError(f"option '{self.name}' must be ≥ {_fmt(self.minimum)}; got {number}")
        if self.maximum is not None and number > self.maximum:
            raise ModelError(f"option '{self.name}' must be ≤ {_fmt(self.maximum)}; got {number}")
        return number


def _to_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise ModelError(f"option '{name}' must be an integer; got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ModelError(f"option '{name}' must be an integer; got {value!r}")


def _to_float(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ModelError(f"option '{name}' must be a number; got {value!r}")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ModelError(f"option '{name}' must be a number; got {value!r}") from None
    if not math.isfinite(number):
        raise ModelError(f"option '{name}' must be a finite number; got {value!r}")
    return number


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)
