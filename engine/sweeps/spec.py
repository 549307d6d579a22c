"""What a sweep is: a base config (preset + overrides), a grid and seeds — and its id.

The sweep id is a hash of this spec, so typing the same command again finds the same
sweep and resumes it instead of starting a second one.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ConfigError
from engine.sweeps.grid import (
    MODEL_PREFIX,
    SweepPoint,
    config_field_types,
    expand_grid,
    normalize_key,
    parse_grid_values,
    setting_label,
)

_NAME_LIMIT = 80  # TrainConfig.name's own limit


@dataclass(frozen=True)
class SweepSpec:
    """A preset, fixed overrides (config fields; model options under `model_options`),
    the grid (normalized key → values, in the order given) and the seeds."""

    preset: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=lambda: [0])

    def to_dict(self) -> dict[str, Any]:
        return {
            "preset": self.preset,
            "overrides": dict(self.overrides),
            "grid": {key: list(values) for key, values in self.grid.items()},
            "seeds": list(self.seeds),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepSpec:
        return cls(
            preset=data.get("preset"),
            overrides=dict(data.get("overrides") or {}),
            grid={key: list(values) for key, values in (data.get("grid") or {}).items()},
            seeds=[int(seed) for seed in data.get("seeds") or [0]],
        )

    @property
    def sweep_id(self) -> str:
        """`sweep-<preset or model>-<10 hex>`, a hash of the resolved base config, the grid
        and the seeds: typing a default value explicitly (or not) gives the same sweep."""
        base = base_config(self).to_dict()
        canonical = json.dumps(
            {
                "base": base,
                "grid": [[key, values] for key, values in self.grid.items()],
                "seeds": self.seeds,
            },
            sort_keys=True,
            default=str,
        )
        digest = hashlib.sha256(canonical.encode()).hexdigest()[:10]
        label = self.preset or str(base.get("model") or "run")
        return f"sweep-{re.sub(r'[^A-Za-z0-9_-]+', '-', label)}-{digest}"

    def points(self) -> list[SweepPoint]:
        return expand_grid(self.grid, self.seeds)


def preset_overrides(name: str) -> dict[str, Any]:
    """The config fields a preset sets (ConfigError naming the presets for an unknown one)."""
    from engine.presets import get_preset

    return dict(get_preset(name).overrides)


def base_config(spec: SweepSpec):
    """The TrainConfig every point starts from: defaults ← preset ← overrides, merged the
    way `cnnlab train --preset P --flag …` merges them."""
    from engine.trainer.config import TrainConfig

    if spec.preset:
        from engine.presets import get_preset

        return get_preset(spec.preset).to_config(**spec.overrides)
    return TrainConfig().replace(**spec.overrides)


def point_config(base, point: SweepPoint):
    """The TrainConfig of one point: the base with the point's setting and seed applied."""
    fields: dict[str, Any] = {}
    options = dict(base.model_options)
    for key, value in point.setting.items():
        if key.startswith(MODEL_PREFIX):
            options[key[len(MODEL_PREFIX) :]] = value
        else:
            fields[key] = value
    name = f"{setting_label(point.setting)} seed={point.seed}"
    if base.name:
        name = f"{base.name} {name}"
    return base.replace(**fields, model_options=options, seed=point.seed, name=name[:_NAME_LIMIT])


def build_spec(
    preset: str | None,
    overrides: dict[str, Any],
    grid_args: list[tuple[str, str]],
    seeds: list[int],
) -> SweepSpec:
    """Parse `--grid KEY=V1,V2` texts against the config fields and the model's options.

    Model options are checked against the chosen model unless the grid sweeps the model
    itself; then each point's validation names an option a model does not take.
    """
    spec = SweepSpec(preset=preset, overrides=dict(overrides), seeds=list(seeds))
    base = base_config(spec)
    field_types = config_field_types()
    sweeps_model = any(normalize_key(key) == "model" for key, _ in grid_args)
    model_options = None if sweeps_model else _model_option_defaults(base.model)
    grid: dict[str, list[Any]] = {}
    for key, text in grid_args:
        name, values = parse_grid_values(key, text, field_types, model_options)
        if name in grid:
            raise ConfigError({f"grid {name}": "given twice; list all its values in one --grid"})
        flag = "--" + name.replace("_", "-")
        if name in overrides:
            raise ConfigError({f"grid {name}": f"also set by {flag}; keep one of them"})
        option = name[len(MODEL_PREFIX) :] if name.startswith(MODEL_PREFIX) else None
        if option is not None and option in (overrides.get("model_options") or {}):
            raise ConfigError({f"grid {name}": f"also set by --model-opt {option}=…; keep one"})
        grid[name] = values
    return SweepSpec(preset=preset, overrides=dict(overrides), grid=grid, seeds=list(seeds))


def _model_option_defaults(model: str) -> dict[str, Any] | None:
    """The model's options and defaults; None for an unknown model (validation names it)."""
    from engine.models import get_model_info

    try:
        return dict(get_model_info(model).options)
    except ValueError:
        return None


def planned_configs(spec: SweepSpec) -> list[tuple[SweepPoint, Any]]:
    """Every point with its TrainConfig, all validated first so a bad value fails fast."""
    base = base_config(spec)
    planned = [(point, point_config(base, point)) for point in spec.points()]
    errors: dict[str, str] = {}
    for point, config in planned:
        for field_name, message in config.validate().items():
            where = point.label if point.setting else "base"
            errors.setdefault(f"{field_name} ({where})", message)
    if errors:
        raise ConfigError(errors)
    return planned
