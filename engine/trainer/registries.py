"""The trainer's view of the model and data-set registries, for validation.

Kept in one place so validation asks each registry the same way and turns its answers into
messages for a form field.
"""

from __future__ import annotations

from typing import Any

from engine.errors import ModelError


def known_datasets() -> list[str]:
    """Names of every data set `load_dataset` accepts."""
    from engine.datasets import DATASETS

    return list(DATASETS)


def dataset_task(name: str) -> str | None:
    """'classify' or 'dehaze' for a known data set, else None."""
    from engine.datasets import DATASETS

    info = DATASETS.get(name)
    return info.task if info is not None else None


def needs_own_folder(name: str) -> bool:
    """True for data sets (folder, paired) that have no default location under the data root."""
    from engine.datasets import DATASETS

    info = DATASETS.get(name)
    return bool(info is not None and getattr(info, "own_folder", False))


def model_info_or_problem(name: str) -> tuple[Any, str | None]:
    """(ModelInfo, None) for a known model, else (None, a message naming the known ones)."""
    from engine.models import get_model_info

    try:
        return get_model_info(name), None
    except ModelError as exc:
        return None, str(exc)


def option_problem(model: str, options: dict[str, Any]) -> str | None:
    """Why `options` do not suit `model` (unknown name, bad value), or None when they do."""
    from engine.models import resolve_options

    try:
        resolve_options(model, options)
    except ModelError as exc:
        return str(exc)
    return None


def size_problem(model: str, image_size: int, options: dict[str, Any]) -> str | None:
    """Why `image_size` is too small for the model's layers, or None (checked on the meta
    device, so nothing is allocated)."""
    from engine.models import parameter_count

    try:
        parameter_count(model, image_size=image_size, **options)
    except ModelError as exc:
        return str(exc)
    return None
