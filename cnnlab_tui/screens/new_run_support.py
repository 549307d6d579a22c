"""What the New run form needs from the engine, as small pure functions.

Every choice list, default, help text and verdict comes from the engine (config_fields,
the data set and model registries, presets, hdc_check), so the form never re-implements
engine rules; this module only turns engine answers into text for the form.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Which TrainConfig fields the form shows, by section (labels are the form's own words).
DATA_FIELDS: tuple[tuple[str, str], ...] = (
    ("data_root", "Data root"),
    ("dataset", "Data set"),
    ("image_size", "Image size"),
    ("resize", "Resize"),
    ("augmentation", "Augmentation"),
)
TRAINING_FIELDS: tuple[tuple[str, str], ...] = (
    ("epochs", "Epochs"),
    ("batch_size", "Batch size"),
    ("lr", "Learning rate"),
    ("optimizer", "Optimizer"),
    ("momentum", "Momentum (sgd)"),
    ("scheduler", "Scheduler"),
    ("weight_decay", "Weight decay"),
    ("max_train_batches", "Batches/epoch"),
    ("seed", "Seed"),
    ("device", "Device"),
    ("amp", "Mixed precision"),
    ("channels_last", "Channels-last"),
    ("compile", "torch.compile"),
    ("name", "Run name"),
)
LAST_CONFIG_FILE = ".cnnlab-dashboard.json"  # hidden: the run store skips dot-files
DEFAULT_CLASS_COUNT = 10


def config_field_specs() -> dict[str, Any]:
    """name → engine ConfigField (type, default, help, choices, optional)."""
    from engine.trainer.config import config_fields

    return {f.name: f for f in config_fields()}


def field_kind(spec: Any) -> str:
    """The form kind for an engine ConfigField."""
    if spec.choices:
        return "choice"
    return {int: "int", float: "float", bool: "bool"}.get(spec.type, "str")


def default_config() -> dict[str, Any]:
    """The engine's default TrainConfig as a dict (the lab's defaults)."""
    from engine.trainer.config import TrainConfig

    return TrainConfig().to_dict()


def dataset_names() -> list[str]:
    from engine.datasets import DATASETS

    return list(DATASETS)


def model_choices() -> list[tuple[str, str]]:
    """(label, name) for every registered model, classification first."""
    from engine.models import list_models

    return [(f"{m.name}  ({m.task})", m.name) for m in list_models()]


def preset_list() -> list[tuple[str, str]]:
    """(name, description) of every preset the engine offers."""
    from engine.presets import list_presets

    return [(p.name, p.description) for p in list_presets()]


def preset_config(name: str) -> dict[str, Any]:
    """A full config dict for preset `name` (the engine merges its overrides into defaults)."""
    from engine.presets import get_preset

    config = get_preset(name).to_config().to_dict()
    config["preset"] = name
    return config


def describe_dataset(status: Any) -> tuple[str, int | None]:
    """One status line for a probed data set and its class count (None when unknown)."""
    if status.found:
        classes = len(status.splits) if status.task == "classify" and status.splits else None
        what = "pairs" if status.task == "dehaze" else "images"
        parts = [f"✓ found · {status.count:,} {what}"]
        if classes:
            parts.append(f"{classes} classes")
        parts.append(str(status.where))
        return " · ".join(parts), classes
    reason = f": {status.message}" if status.message else ""
    return f"✗ {status.state or 'missing'} — looked in {status.where}{reason}", None


def describe_hdc(dilations: list[int], kernel_size: int) -> str:
    """The engine's HDC verdict for a dilation stack, in one or two lines."""
    from engine.ops import hdc_check

    report = hdc_check(dilations, kernel_size)
    m_values = ", ".join(str(m) for m in report.m_values)
    if report.ok:
        return f"HDC ✓ dilations {format_list(dilations)} cover every pixel (M = {m_values})"
    return f"HDC ✗ gridding: {'; '.join(report.reasons)} (M = {m_values})"


def hdc_text(options: dict[str, Any]) -> str:
    """The HDC verdict for a model's `dilations` option ('' when there is none to judge)."""
    dilations = options.get("dilations")
    if not isinstance(dilations, list) or not dilations:
        return ""
    try:
        return describe_hdc(dilations, int(options.get("kernel_size", 3)))
    except (TypeError, ValueError) as exc:
        return f"HDC: {exc}"


def model_problem(config: dict[str, Any], num_classes: int | None) -> str | None:
    """Why the model cannot be built for `config`, or None. (Counted on torch's meta device:
    instant, so launch never relies on a parameter count that is still on its way.)"""
    try:
        count_parameters_text(
            config["model"], config["model_options"], config["image_size"],
            num_classes or DEFAULT_CLASS_COUNT,
        )  # fmt: skip
    except Exception as exc:  # ModelError, or a model that cannot be built at all
        return str(exc)
    return None


def count_parameters_text(
    model: str, options: dict[str, Any], image_size: int, num_classes: int
) -> str:
    """'123,456 parameters (32 px, 3 classes)'; engine errors propagate as CnnlabError."""
    import engine.models as models

    counter = getattr(models, "parameter_count", None)
    kwargs = dict(num_classes=num_classes, image_size=image_size, **options)
    if counter is not None:
        count = counter(model, **kwargs)
    else:
        count = models.count_parameters(models.create_model(model, **kwargs))
    return f"{count:,} parameters ({image_size} px, {num_classes} classes)"


def format_list(values: list[int]) -> str:
    return "-".join(str(v) for v in values)


def _read_last(runs_dir: Path) -> dict[str, Any]:
    path = Path(runs_dir) / LAST_CONFIG_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def load_last_config(runs_dir: Path) -> dict[str, Any] | None:
    """The config launched last from this runs folder, or None (unreadable counts as none)."""
    config = _read_last(runs_dir).get("last_config")
    return config if isinstance(config, dict) else None


def load_last_sweep_texts(runs_dir: Path) -> dict[str, str]:
    """Field key → the text typed there when the last launch was a sweep ("1e-2, 1e-3",
    Seeds "3"): the config alone keeps only each list's first value."""
    texts = _read_last(runs_dir).get("sweep_texts")
    if not isinstance(texts, dict):
        return {}
    return {str(k): v for k, v in texts.items() if isinstance(v, str)}


def save_last_config(
    runs_dir: Path, config: dict[str, Any], sweep_texts: dict[str, str] | None = None
) -> None:
    """Remember `config` (and a sweep's typed lists) for the next session (atomic write;
    failures only logged)."""
    path = Path(runs_dir) / LAST_CONFIG_FILE
    data = {"last_config": config, "sweep_texts": sweep_texts or {}}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, default=str))
        tmp.replace(path)
    except OSError as exc:
        log.warning("cannot remember the last config in %s: %s", path, exc)
