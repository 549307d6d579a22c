"""Short human-readable texts about runs, shared by the CLI tables and the dashboard.

Pure functions of summaries and configs: no printing, no colour.
"""

from __future__ import annotations

from typing import Any

from engine.runs.store import RunRecord

# Hyper-parameters worth a column in a list of runs, with their short labels.
KEY_HYPERPARAMETERS = (
    ("image_size", "px"),
    ("epochs", "ep"),
    ("batch_size", "bs"),
    ("lr", "lr"),
    ("optimizer", ""),
    ("scheduler", "sched"),
    ("augmentation", "aug"),
    ("seed", "seed"),
)
_DEFAULT_HIDDEN = {"scheduler": "none", "augmentation": "none", "seed": 0}


def format_value(value: Any) -> str:
    """Numbers short (0.001 → 1e-03 stays readable as 0.001), lists comma-joined."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and abs(value) >= 10_000:
        return f"{value:,}"
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.0e}"
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ",".join(format_value(v) for v in value)
    if isinstance(value, dict):
        return " ".join(f"{k}={format_value(v)}" for k, v in value.items())
    return str(value)


def duration_text(seconds: float | None) -> str:
    """3.2 → '3.2s', 125 → '2m05s', 7300 → '2h01m'."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def hyperparameters_text(config: dict[str, Any]) -> str:
    """'32px ep10 bs64 lr0.001 adam' — defaults of the rarer fields are left out."""
    parts = []
    for key, label in KEY_HYPERPARAMETERS:
        if key not in config or _DEFAULT_HIDDEN.get(key, object()) == config[key]:
            continue
        value = format_value(config[key])
        parts.append(f"{value}{label}" if label == "px" else f"{label}{value}")
    return " ".join(parts)


def metric_text(name: str, value: Any) -> str:
    """'87.3%' for accuracies, '21.40 dB' for PSNR, '3.2s' for seconds, else 4 digits."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "—"
    if name == "seconds" or name.endswith("_seconds"):
        return duration_text(value)
    if name == "images_per_second":
        return f"{value:,.0f}"
    if name.endswith("_acc"):
        return f"{value * 100:.1f}%"
    if name.endswith("_psnr"):
        return f"{value:.2f} dB"
    return f"{value:.4g}"


def best_text(record: RunRecord) -> str:
    """The run's best primary metric and its epoch ('87.3% @7'), or why there is none."""
    if record.damaged:
        return f"damaged: {record.damaged}"
    best = record.summary.get("best") or {}
    value = best.get(record.primary_metric)
    if value is None:
        return "—"
    epoch = best.get("epoch")
    return metric_text(record.primary_metric, value) + (f" @{epoch}" if epoch else "")


def model_text(summary: dict[str, Any], config: dict[str, Any]) -> str:
    """'conv' or 'conv (widths=8,16)' when options were set."""
    model = summary.get("model") or config.get("model") or "?"
    options = config.get("model_options") or {}
    return f"{model} ({format_value(options)})" if options else str(model)
