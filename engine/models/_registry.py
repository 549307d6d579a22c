"""The model registry: a name → factory table that the trainer, CLI and dashboard share.

Factories register with `@register_model(...)` and declare their options as `OptionSpec`s;
the registry is the one place that fills defaults, coerces and checks options, so a factory
receives every option already valid and can stay a thin constructor.
"""

from __future__ import annotations

import difflib
import inspect
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from engine.errors import ModelError
from engine.models._options import OptionSpec
from engine.trainer.config import TASKS

logger = logging.getLogger(__name__)

Task = Literal["classify", "dehaze"]
# Arguments every factory takes besides its own options.
COMMON_ARGS: tuple[str, ...] = ("num_classes", "in_channels", "image_size")

Factory = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelInfo:
    """What a UI shows about a model: `options` maps option name → default value."""

    name: str
    task: str
    description: str
    options: dict[str, Any]
    option_specs: tuple[OptionSpec, ...]

    def spec(self, option: str) -> OptionSpec:
        """The `OptionSpec` of one option; ModelError if the model has no such option."""
        for spec in self.option_specs:
            if spec.name == option:
                return spec
        raise ModelError(_unknown_option_message(self.name, option, self.option_specs))


@dataclass(frozen=True)
class _Entry:
    name: str
    task: str
    description: str
    specs: tuple[OptionSpec, ...]
    factory: Factory


_REGISTRY: dict[str, _Entry] = {}


def register_model(
    name: str, *, task: Task, description: str, options: Sequence[OptionSpec] = ()
) -> Callable[[Factory], Factory]:
    """Decorator that adds a factory to the registry under `name`.

    The factory is called as ``factory(num_classes=…, in_channels=…, image_size=…, **options)``
    with every option present; its keyword parameters must match `options` exactly, which is
    checked here so a renamed option cannot silently drift from its spec.
    """
    if task not in TASKS:
        raise ValueError(f"model '{name}': task must be one of {TASKS}, got {task!r}")
    specs = tuple(options)

    def decorator(factory: Factory) -> Factory:
        if name in _REGISTRY:
            raise ValueError(f"model '{name}' is already registered")
        params = set(inspect.signature(factory).parameters)
        expected = set(COMMON_ARGS) | {s.name for s in specs}
        if params != expected:
            raise ValueError(
                f"model '{name}': factory parameters {sorted(params)} do not match "
                f"{sorted(expected)} (common arguments + declared options)"
            )
        _REGISTRY[name] = _Entry(name, task, description, specs, factory)
        return factory

    return decorator


def _entry(name: str) -> _Entry:
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        known = sorted(_REGISTRY)
        close = difflib.get_close_matches(str(name), known, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ModelError(
            f"unknown model '{name}'.{hint} Known models: {', '.join(known)}"
        ) from None


def _unknown_option_message(model: str, option: str, specs: Sequence[OptionSpec]) -> str:
    names = [s.name for s in specs]
    close = difflib.get_close_matches(option, names, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    accepted = ", ".join(names) if names else "none"
    return f"model '{model}' has no option '{option}'.{hint} Its options: {accepted}"


def _info(entry: _Entry) -> ModelInfo:
    defaults = {s.name: s.parse(s.default) for s in entry.specs}  # fresh lists each call
    return ModelInfo(entry.name, entry.task, entry.description, defaults, entry.specs)


def list_models(task: str | None = None) -> list[ModelInfo]:
    """Every registered model (sorted by task, then name), or only those of `task`."""
    if task is not None and task not in TASKS:
        raise ModelError(f"unknown task '{task}'; expected one of {', '.join(TASKS)}")
    entries = sorted(_REGISTRY.values(), key=lambda e: (TASKS.index(e.task), e.name))
    return [_info(e) for e in entries if task is None or e.task == task]


def get_model_info(name: str) -> ModelInfo:
    """The `ModelInfo` of one model; ModelError naming the known models if `name` is unknown."""
    return _info(_entry(name))


def resolve_options(name: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """All of a model's options: defaults overlaid with `options`, coerced and checked.

    Useful to UIs that want to validate a form before building anything.
    """
    entry = _entry(name)
    specs = {s.name: s for s in entry.specs}
    resolved = {s.name: s.parse(s.default) for s in entry.specs}
    for key, value in (options or {}).items():
        if key not in specs:
            raise ModelError(_unknown_option_message(name, key, entry.specs))
        resolved[key] = specs[key].parse(value)
    return resolved


def _check_common(num_classes: Any, in_channels: Any, image_size: Any) -> None:
    for arg, value in (
        ("num_classes", num_classes),
        ("in_channels", in_channels),
        ("image_size", image_size),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ModelError(f"{arg} must be a positive integer; got {value!r}")


def create_model(
    name: str,
    *,
    num_classes: int = 10,
    in_channels: int = 3,
    image_size: int = 32,
    **options: Any,
) -> nn.Module:
    """Build model `name` with `options` (defaults for the rest).

    Unknown model, unknown option, a bad value, or an image size too small for the chosen
    layers all raise ModelError. The returned module has `trainable` set (False for
    training-free models such as `dcp`) and `model_name` naming its registry entry.
    """
    entry = _entry(name)
    resolved = resolve_options(name, options)
    _check_common(num_classes, in_channels, image_size)
    model = entry.factory(
        num_classes=num_classes, in_channels=in_channels, image_size=image_size, **resolved
    )
    if not hasattr(model, "trainable"):
        model.trainable = True
    model.model_name = name
    logger.debug("created model %s with %s", name, resolved)
    return model


def count_parameters(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters of `model` (shared ones once); only `requires_grad` ones if asked."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def parameter_count(
    name: str,
    *,
    num_classes: int = 10,
    in_channels: int = 3,
    image_size: int = 32,
    **options: Any,
) -> int:
    """Parameter count of a model without allocating or initialising its weights.

    Builds it on torch's meta device, so even full AlexNet (~60M) is counted instantly —
    what tables and forms need to show a size as options change.
    """
    with torch.device("meta"):
        model = create_model(
            name,
            num_classes=num_classes,
            in_channels=in_channels,
            image_size=image_size,
            **options,
        )
    return count_parameters(model)
