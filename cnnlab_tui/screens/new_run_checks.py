"""The New run form's checks, as plain functions of what the form holds.

The engine answers (`check_config` — its validation and the parameter count of the model
it built for it —, `probe_dataset`, `hdc_check`); this module only turns its answers into
the text the form shows. The slow ones run in the screen's exclusive thread worker, once
per change, so typing never waits on disk or torch and the model is built once per change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cnnlab_tui import sweep_launch

DEFAULT_CLASS_COUNT = 10


@dataclass(frozen=True)
class FormCheck:
    """The engine's verdict on the form: form key → message, and the model's size as text
    (or why it cannot be built)."""

    errors: dict[str, str] = field(default_factory=dict)
    params: str = ""
    params_ok: bool = True


def form_check(
    config: Any, axes: list[sweep_launch.GridAxis], num_classes: int | None = None
) -> FormCheck:
    """Validate `config` (a TrainConfig) as the engine will, count its model's parameters
    for `num_classes` classes in the same build, and name under its own field a listed value
    (a sweep axis) the engine refuses."""
    from engine.trainer.validation import check_config

    classes = num_classes or DEFAULT_CLASS_COUNT
    found, params = check_config(config, num_classes=classes)
    errors = dict(found)
    for key, message in sweep_launch.axis_errors(config, axes, found).items():
        errors.setdefault(key, message)
    if params is not None:
        text = f"{params:,} parameters ({config.image_size} px, {_output_of(config, classes)})"
        return FormCheck(errors, text, True)
    why = next((found[k] for k in ("image_size", "model_options", "model") if k in found), "")
    return FormCheck(errors, why or "cannot be built with these settings", False)


def _output_of(config: Any, classes: int) -> str:
    """What the model puts out: `10 classes` for a classifier, an image for a dehazer (it
    has no classes)."""
    from engine.models import ModelError, get_model_info

    try:
        task = get_model_info(config.model).task
    except ModelError:
        task = "classify"
    return "image in, image out" if task == "dehaze" else f"{classes} classes"


def probe_dataset(dataset: str, data_root: str | None) -> tuple[str, bool, int | None]:
    """(status line, found?, class count or None) of a data set, from the engine's probe."""
    from engine.datasets import probe_dataset as probe

    try:
        text, classes = describe_dataset(probe(dataset, data_root))
    except Exception as exc:  # the probe must never break the form
        return f"✗ {exc}", False, None
    return text, True, classes


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
    from engine.ops.arithmetic import hdc_check

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


def format_list(values: list[int]) -> str:
    return "-".join(str(v) for v in values)
