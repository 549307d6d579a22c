"""engine.runs.differing: the config fields that tell listed runs apart."""

from __future__ import annotations

from engine.runs.differing import config_value, short_name, split_fields


def test_split_fields_orders_differing_and_keeps_constants():
    configs = [
        {
            "dataset": "shapes",
            "lr": 0.01,
            "batch_size": 32,
            "name": "a",
            "model_options": {"widths": [4]},
        },
        {
            "dataset": "shapes",
            "lr": 0.001,
            "batch_size": 64,
            "name": "b",
            "model_options": {"widths": [8]},
        },
        {},  # a damaged run: no config, left out
    ]
    differing, constant = split_fields(configs)
    assert differing == ["lr", "batch_size", "model_options.widths"]
    assert constant == {"dataset": "shapes"}  # the name is a label, not a field


def test_a_key_one_run_lacks_differs():
    differing, constant = split_fields([{"lr": 0.1, "seed": 1}, {"lr": 0.1}])
    assert differing == ["seed"] and constant == {"lr": 0.1}


def test_one_run_differs_in_nothing():
    assert split_fields([{"lr": 0.1}]) == ([], {"lr": 0.1})
    assert split_fields([]) == ([], {})


def test_short_names_and_lookup():
    assert [short_name(k) for k in ("batch_size", "optimizer", "lr", "model_options.widths")] == [
        "bs", "opt", "lr", "widths",
    ]  # fmt: skip
    assert config_value({"model_options": {"widths": [4, 8]}}, "model_options.widths") == [4, 8]
    assert config_value({}, "lr") is None
