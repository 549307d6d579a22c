"""Pure functions behind `cnnlab compare` and the dashboard's Compare screen.

They take `RunRecord`s and return plain rows, so the CLI (rich + plotext) and the dashboard
(Textual widgets) render the same comparison.
"""

from __future__ import annotations

from typing import Any

from engine.runs.store import RunRecord

# Config fields that never make two runs differ in a way worth a column.
_IGNORED_FIELDS = ("name",)

FINAL_ROWS = (
    ("status", "status"),
    ("epochs", "epochs_completed"),
    ("best epoch", "best.epoch"),
    ("best test_acc", "best.test_acc"),
    ("final test_acc", "final.test_acc"),
    ("final test_loss", "final.test_loss"),
    ("final train_acc", "final.train_acc"),
    ("best test_psnr", "best.test_psnr"),
    ("final test_psnr", "final.test_psnr"),
    ("final test_ssim", "final.test_ssim"),
    ("train seconds", "train_seconds"),
    ("images/s", "images_per_second"),
    ("params", "params"),
    ("device", "device"),
)


def flatten_config(config: dict[str, Any]) -> dict[str, Any]:
    """`{"model_options": {"widths": [8]}}` → `{"model_options.widths": [8]}`."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            for inner, inner_value in flatten_config(value).items():
                flat[f"{key}.{inner}"] = inner_value
        else:
            flat[key] = value
    return flat


def differing_fields(records: list[RunRecord]) -> list[tuple[str, list[Any]]]:
    """Config fields whose values are not the same in every run: (field, value per run).

    A field a run does not have shows as None for that run.
    """
    flats = [flatten_config(r.config) for r in records]
    keys: list[str] = []
    for flat in flats:
        keys.extend(k for k in flat if k not in keys)
    rows = []
    for key in keys:
        if key in _IGNORED_FIELDS:
            continue
        values = [flat.get(key) for flat in flats]
        if any(v != values[0] for v in values[1:]):
            rows.append((key, values))
    return rows


def _lookup(summary: dict[str, Any], dotted: str) -> Any:
    value: Any = summary
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def final_metrics(records: list[RunRecord]) -> list[tuple[str, list[Any]]]:
    """Final and best metrics side by side: (label, value per run); rows all-None are left out."""
    rows = []
    for label, dotted in FINAL_ROWS:
        values = [r.status if dotted == "status" else _lookup(r.summary, dotted) for r in records]
        if any(v is not None for v in values):
            rows.append((label, values))
    return rows


def default_metric(records: list[RunRecord]) -> str:
    """test_acc when any run classifies, else test_psnr."""
    tasks = {r.task for r in records}
    return "test_acc" if "classify" in tasks or not tasks - {None} else "test_psnr"


def metric_series(record: RunRecord, metric: str) -> tuple[list[int], list[float]]:
    """(epochs, values) of one metric over a run's epochs, skipping rows without it."""
    epochs, values = [], []
    for index, row in enumerate(record.metrics, start=1):
        value = row.get(metric)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            epochs.append(int(row.get("epoch", index)))
            values.append(float(value))
    return epochs, values


def curve_metrics(records: list[RunRecord]) -> list[str]:
    """Numeric metric names present in any run's rows (for a metric picker)."""
    names: list[str] = []
    for record in records:
        for row in record.metrics:
            for key, value in row.items():
                numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
                if numeric and key != "epoch" and key not in names:
                    names.append(key)
    return names
