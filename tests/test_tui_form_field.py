"""A form field is read the moment it is mounted (a model's option fields are checked as
soon as they are rebuilt), which can come before its compose has built the control: it
then reads as the value it is being built with, and keeps what is set on it."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Input
from tui_helpers import async_test

from cnnlab_tui.widgets.forms import FieldError, FormField


@pytest.mark.parametrize(
    ("kind", "value", "choices", "text", "parsed"),
    [
        ("float", 0.01, (), "0.01", 0.01),
        ("list[int]", [4, 8], (), "4, 8", [4, 8]),
        ("choice", "adam", ("sgd", "adam"), "adam", "adam"),
        ("bool", True, (), "true", True),
    ],
)
def test_a_field_not_yet_composed_reads_as_it_is_built(kind, value, choices, text, parsed):
    field = FormField("key", "key", kind=kind, value=value, choices=choices)
    assert field.text == text
    assert field.parse() == parsed


def test_a_choice_not_yet_composed_without_a_value_asks_for_one():
    field = FormField("key", "key", kind="choice", choices=("sgd", "adam"))
    assert field.text == ""
    with pytest.raises(FieldError, match="choose one"):
        field.parse()


class _OneField(App):
    def __init__(self, field: FormField) -> None:
        super().__init__()
        self.field = field

    def compose(self) -> ComposeResult:
        yield self.field


@async_test
async def test_what_is_set_before_compose_is_what_the_control_shows():
    field = FormField("lr", "lr", kind="float", value=0.01)
    field.set_value(0.1)
    field.set_error("must be below 1")
    assert field.has_class("-invalid")
    async with _OneField(field).run_test() as pilot:
        await pilot.pause()
        assert field.query_one(Input).value == "0.1"
        assert "must be below 1" in str(field.query_one(".field-error").render())
        assert field.query_one(".field-error").display
