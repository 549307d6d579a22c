"""The New run form's checks, as plain functions of what the form holds.

The engine answers (`TrainConfig.validate`, `probe_dataset`, `parameter_count`,
`hdc_check`); this module only turns its answers into the text the form shows. The slow
ones (engine validation, the data set probe, the parameter count) are called from the
screen's exclusive thread workers, so typing never waits on disk or torch.
"""

from __future__ import annotations

from typing import Any

from cnnlab_tui import sweep_launch

DEFAULT_CLASS_COUNT = 10


def engine_errors(config: dict[str, Any], axes: list[sweep_launch.GridAxis]) -> dict[str, str]:
    """Form key → the engine's message: what `config` gets wrong, then a listed value
    (a sweep axis) the engine refuses, named under its own field."""
    from cnnlab_tui.runner import validate_config

    errors = validate_config(config)
    for key, message in sweep_launch.axis_errors(config, axes, errors).items():
        errors.setdefault(key, message)
    return errors


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
    from engine.models import parameter_count

    count = parameter_count(model, num_classes=num_classes, image_size=image_size, **options)
    return f"{count:,} parameters ({image_size} px, {num_classes} classes)"


def format_list(values: list[int]) -> str:
    return "-".join(str(v) for v in values)
