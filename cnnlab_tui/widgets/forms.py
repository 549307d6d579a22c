"""Form fields that parse what a person types and show why it is wrong, right under it.

A `FormField` is one labelled control (a compact Input, Select or Checkbox) plus a message
line. It turns text into a typed value (`int`, `float`, `list[int]`, optional numbers, …) or
into a message; the screen adds the engine's own validation messages via `set_error`, so the
user sees syntax and meaning problems in the same place.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Select, Static

FIELD_KINDS = ("str", "int", "float", "list[int]", "choice", "bool")
Parser = Callable[[str], Any]


class FieldError(ValueError):
    """What a person typed cannot be read as the field's type."""


def parse_text(text: str, kind: str, *, optional: bool = False) -> Any:
    """Parse typed text as `kind`; empty text is None for optional fields."""
    text = text.strip()
    if not text:
        if optional or kind == "str":
            return None if optional else ""
        raise FieldError("required")
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            raise FieldError(f"must be a whole number, got {text!r}") from None
    if kind == "float":
        try:
            value = float(text)
        except ValueError:
            raise FieldError(f"must be a number (e.g. 0.001 or 1e-3), got {text!r}") from None
        if not math.isfinite(value):
            raise FieldError(f"must be a finite number, got {text!r}")
        return value
    if kind == "list[int]":
        parts = [p for p in text.replace(",", " ").split() if p]
        try:
            return [int(p) for p in parts]
        except ValueError:
            raise FieldError(f"must be whole numbers separated by commas, got {text!r}") from None
    return text


def format_value(value: Any) -> str:
    """The text a field shows for `value` (lists as `1, 2, 5`, None as empty)."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


class FormField(Vertical):
    """One labelled, validated form control; posts `FormField.Changed` when edited."""

    DEFAULT_CSS = """
    FormField { height: auto; }
    FormField > .field-row { height: auto; }
    FormField .field-label { width: 18; padding: 0 1 0 0; }
    FormField .field-control { width: 1fr; max-width: 64; }
    FormField .field-help { color: $text-muted; width: auto; padding: 0 0 0 1; }
    FormField > .field-error { color: $error; padding: 0 0 0 18; height: auto; }
    FormField.-invalid .field-label { color: $error; }
    """

    class Changed(Message):
        """The field's text or selection changed (valid or not)."""

        def __init__(self, field: FormField) -> None:
            super().__init__()
            self.field = field

        @property
        def control(self) -> FormField:
            return self.field

    def __init__(
        self,
        key: str,
        label: str,
        *,
        kind: str = "str",
        value: Any = None,
        choices: Sequence[str] | Iterable[tuple[str, str]] = (),
        optional: bool = False,
        help: str = "",  # noqa: A002 - reads naturally at call sites
        parser: Parser | None = None,
        placeholder: str = "",
        id: str | None = None,  # noqa: A002 - Textual's own parameter name
        classes: str | None = None,
    ) -> None:
        if kind not in FIELD_KINDS:
            raise ValueError(f"unknown field kind {kind!r}")
        super().__init__(id=id or f"field-{key}", classes=classes)
        self.key = key
        self.label = label
        self.kind = kind
        self.optional = optional
        self.help = help
        self._parser = parser
        self._initial = value
        self._placeholder = placeholder
        self._choices = [c if isinstance(c, tuple) else (str(c), str(c)) for c in choices]
        self._error: str | None = None
        self._blank_allowed = False  # a choice field built without a value may be emptied

    def compose(self) -> ComposeResult:
        with Horizontal(classes="field-row"):
            yield Label(self.label, classes="field-label")
            yield self._make_control()
        yield Static("", classes="field-error")

    def _make_control(self) -> Widget:
        if self.kind == "choice":
            values = [v for _, v in self._choices]
            initial = self._initial if self._initial in values else Select.NULL
            self._blank_allowed = initial is Select.NULL
            return Select(
                self._choices,
                value=initial,
                allow_blank=self._blank_allowed,
                compact=True,
                classes="field-control",
            )
        if self.kind == "bool":
            return Checkbox(self.help, bool(self._initial), compact=True, classes="field-control")
        return Input(
            format_value(self._initial),
            placeholder=self._placeholder or self.help,
            compact=True,
            classes="field-control",
        )

    def on_mount(self) -> None:
        self.set_error(self._error)  # one set before the field was composed shows now

    # -- values ---------------------------------------------------------------------------
    # A field is read as soon as it is mounted (a model's option fields are checked the
    # moment they are rebuilt), which can be before its compose has mounted the control:
    # until then it reads as the value it is being built with.
    def _built(self) -> Widget | None:
        found = self.query(".field-control")
        return found.first() if found else None

    def _value(self) -> Any:
        """The control's value: Select.NULL or a choice, a bool, or the text typed."""
        control = self._built()
        if control is not None:
            return control.value
        if self.kind == "choice":
            return self._initial if self._initial in {v for _, v in self._choices} else Select.NULL
        if self.kind == "bool":
            return bool(self._initial)
        return format_value(self._initial)

    @property
    def text(self) -> str:
        """What the control holds, as text."""
        value = self._value()
        if self.kind == "choice":
            return "" if value is Select.NULL else str(value)
        if self.kind == "bool":
            return str(value).lower()
        return value

    def parse(self) -> Any:
        """The typed value; raises FieldError (with a message for people) when unreadable."""
        value = self._value()
        if self.kind == "bool":
            return value
        if self.kind == "choice":
            if value is Select.NULL:
                if self.optional:
                    return None
                raise FieldError("choose one")
            return value
        if self._parser is not None:
            try:
                return self._parser(value)
            except ValueError as exc:  # engine errors are ValueErrors too
                raise FieldError(str(exc)) from None
        return parse_text(value, self.kind, optional=self.optional)

    def set_value(self, value: Any) -> None:
        """Show `value` in the control (posts Changed, like typing would)."""
        control = self._built()
        if control is None:  # not composed yet: it is built with `value`
            self._initial = value
        elif isinstance(control, Select):
            options = {v for _, v in self._choices}
            if value in options:
                control.value = value
            elif value is None and self._blank_allowed:
                control.clear()
        elif isinstance(control, Checkbox):
            control.value = bool(value)
        else:
            control.value = format_value(value)

    # -- messages -------------------------------------------------------------------------
    @property
    def error(self) -> str | None:
        return self._error

    def set_error(self, message: str | None) -> None:
        """Show `message` under the field (None clears it)."""
        self._error = message or None
        self.set_class(bool(message), "-invalid")
        found = self.query(".field-error")
        if found:  # else not composed yet: on_mount shows it
            line = found.first(Static)
            line.update(Text(f"⚠ {message}") if message else "")  # may quote `[4,8]`: no markup
            line.display = bool(message)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self))

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self))

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self))
