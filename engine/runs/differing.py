"""Which config fields tell a set of runs apart, and what each is called in a narrow column.

The Runs table shows the fields that differ between the listed runs (as W&B and MLflow do)
and sums up the rest in one line, so two runs never read the same when their configs do not.
Pure functions over config dicts: the CLI and the dashboard can both use them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from engine.runs.compare import flatten_config

# Labels, not settings: they never make two runs differ in a way worth a column.
NOT_A_FIELD = frozenset({"name", "preset"})

# Compact column names (`model_options.widths` → `widths`); others keep their last part.
SHORT_NAMES: dict[str, str] = {
    "dataset": "data",
    "batch_size": "bs",
    "optimizer": "opt",
    "epochs": "ep",
    "weight_decay": "wd",
    "momentum": "mom",
    "scheduler": "sched",
    "image_size": "img",
    "augmentation": "aug",
    "label_smoothing": "ls",
    "max_train_batches": "max_b",
    "data_root": "root",
    "init_from": "init",
    "freeze_epochs": "freeze",
    "head_lr_mult": "head_lr",
    "channels_last": "c_last",
    "test_fraction": "test_f",
    "val_fraction": "val_f",
}

# The order columns appear in: what people tune first, then the rest as first seen.
PREFERRED_ORDER = (
    "dataset",
    "model",
    "lr",
    "batch_size",
    "optimizer",
    "epochs",
    "weight_decay",
    "scheduler",
    "seed",
)


def short_name(key: str) -> str:
    """A column header of a few characters for a flattened config key."""
    if key in SHORT_NAMES:
        return SHORT_NAMES[key]
    return key.rsplit(".", 1)[-1]


def _same(values: Sequence[Any]) -> bool:
    return all(value == values[0] for value in values[1:])


def split_fields(configs: Iterable[Mapping[str, Any]]) -> tuple[list[str], dict[str, Any]]:
    """(keys that differ between the configs, {key: value} of those that are the same).

    Keys are flattened (`model_options.widths`); a key one config lacks counts as None for
    it, so it differs. Empty configs (damaged runs) are left out: they would make every
    field differ. The differing keys come in `PREFERRED_ORDER`, then as first seen.
    """
    flats = [flatten_config(dict(config)) for config in configs if config]
    keys: list[str] = []
    for flat in flats:
        keys.extend(key for key in flat if key not in keys and key not in NOT_A_FIELD)
    differing, constant = [], {}
    for key in keys:
        values = [flat.get(key) for flat in flats]
        if len(flats) > 1 and not _same(values):
            differing.append(key)
        else:
            constant[key] = values[0]
    rank = {key: i for i, key in enumerate(PREFERRED_ORDER)}
    differing.sort(key=lambda key: (rank.get(key, len(rank)), keys.index(key)))
    return differing, constant


def config_value(config: Mapping[str, Any], key: str) -> Any:
    """The value of flattened `key` in a (nested) config, or None."""
    return flatten_config(dict(config or {})).get(key)
