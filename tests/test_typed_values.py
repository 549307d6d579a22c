"""One text → value parser for every place a person types a value: the same text gives the
same value, or the same message, from a CLI flag, `--model-opt`, `--grid` and the function
the dashboard's fields call (`parse_field_text` / `parse_field_list`)."""

from __future__ import annotations

import pytest

from engine.cli import build_parser
from engine.cli.sweep_cmd import build_spec_from_args
from engine.cli.train_cmd import flag_overrides
from engine.errors import ConfigError
from engine.sweeps import parse_grid_values
from engine.trainer.config import parse_field_list, parse_field_text, parse_model_option

VALUES = [
    ("batch_size", "64", 64),
    ("batch_size", "1e3", 1000),  # a whole number written as a float is still one
    ("epochs", " 12 ", 12),
    ("lr", "1e-3", 0.001),
    ("lr", "2", 2.0),
    ("test_fraction", "0.2", 0.2),
    ("max_train_batches", "none", None),
    ("max_train_batches", "3", 3),
    ("optimizer", "sgd", "sgd"),
    ("device", "cpu", "cpu"),
]
ERRORS = [
    ("batch_size", "3.5", "must be a whole number, got '3.5'"),
    ("batch_size", "many", "must be a whole number, got 'many'"),
    ("epochs", "", "must be a whole number, got ''"),
    ("lr", "fast", "must be a number, got 'fast'"),
    ("lr", "nan", "must be a number, got 'nan'"),
    ("weight_decay", "1e999", "must be a number, got '1e999'"),
]


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def _from_flag(field: str, text: str):
    return getattr(build_parser().parse_args(["train", _flag(field), text]), field)


def _from_cli_grid(field: str, text: str):
    args = build_parser().parse_args(["sweep", "--grid", f"{_flag(field)[2:]}={text}"])
    return build_spec_from_args(args).grid[field]


@pytest.mark.parametrize(("field", "text", "value"), VALUES)
def test_the_same_text_gives_the_same_value_everywhere(field, text, value):
    assert parse_field_text(field, text) == value  # what the dashboard's fields call
    assert parse_field_text(_flag(field)[2:], text) == value  # kebab case too
    assert _from_flag(field, text) == value
    assert parse_field_list(field, text) == [value]
    assert parse_grid_values(field, text) == (field, [value])
    assert _from_cli_grid(field, text) == [value]


@pytest.mark.parametrize(("field", "text", "message"), ERRORS)
def test_the_same_text_gives_the_same_message_everywhere(field, text, message, capsys):
    with pytest.raises(ConfigError) as form:
        parse_field_text(field, text)
    assert form.value.errors == {field: message}
    with pytest.raises(SystemExit):
        _from_flag(field, text)
    assert f"argument {_flag(field)}: {message}\n" in capsys.readouterr().err
    with pytest.raises(ConfigError) as grid:
        parse_grid_values(field, f"0, {text}" if text else text)
    assert grid.value.errors == {f"grid {field}": message if text else "empty value in ''"}
    if text:
        with pytest.raises(ConfigError) as cli_grid:
            _from_cli_grid(field, f"1,{text}")
        assert cli_grid.value.errors == {f"grid {field}": message}


def test_model_option_lists_read_alike_with_or_without_brackets():
    """One value (--model-opt, a form field): `8,16` and `[8,16]` are the same list. In a
    list of values (--grid, a form sweep) commas separate values, so lists need brackets."""
    for text in ("8,16", "[8,16]", " [8, 16] "):
        assert parse_field_text("model.widths", text) == [8, 16]
        assert parse_model_option(f"widths={text}") == ("widths", [8, 16])
        args = build_parser().parse_args(["train", "--model-opt", f"widths={text}"])
        assert flag_overrides(args)["model_options"] == {"widths": [8, 16]}
    assert parse_field_text("model.widths", "16,") == [16]
    assert parse_field_list("model.widths", "[8,16]") == [[8, 16]]
    assert parse_field_list("model.widths", "[4,8], [8,16]") == [[4, 8], [8, 16]]
    assert parse_grid_values("model.widths", "[4,8],[8,16]", "conv")[1] == [[4, 8], [8, 16]]
    args = build_parser().parse_args(["sweep", "--grid", "model.widths=[4,8],[8,16]"])
    assert build_spec_from_args(args).grid == {"model.widths": [[4, 8], [8, 16]]}


def test_model_option_scalars_read_alike():
    for text, value in [("1e-1", 0.1), ("3", 3), ("hand", "hand"), ("true", True)]:
        assert parse_field_text("model.x", text) == value
        assert parse_model_option(f"x={text}") == ("x", value)
    # the model's own option spec then coerces: 0 for a float option is 0.0 in a grid
    assert parse_grid_values("model.dropout", "0", "alexnet")[1] == [0.0]


def test_list_structure_errors_name_the_problem():
    for text, fragment in [("0.1,,0.2", "empty value"), ("0.1,0.1", "repeated value")]:
        with pytest.raises(ConfigError, match=fragment):
            parse_field_list("lr", text)
    with pytest.raises(ConfigError, match="unbalanced"):
        parse_field_text("model.widths", "[4,8")
    with pytest.raises(ConfigError, match="unknown setting"):
        parse_field_text("learning_rate", "0.1")
