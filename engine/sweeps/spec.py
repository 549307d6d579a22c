"""What a sweep is: the resolved config every point starts from, the grid of parsed values
and the seeds — and its id.

The CLI and the dashboard each build the base `TrainConfig` the way they build a run's
(`engine.presets.resolve_config`) and parse the grid's text once
(`engine.sweeps.grid.parse_grid_values`); a `SweepSpec` carries both, so nothing is parsed
again or diffed back into overrides.

The sweep id is a hash of the spec, so typing the same command again finds the same sweep
and resumes it. To make "the same sweep" not depend on where it was typed, a spec keeps the
swept fields and the seed of its base at the values of its preset (or the defaults): every
point sets them anyway. That also keeps the ids of sweeps made before specs carried a
config (they hashed defaults ← preset ← overrides, where neither could appear).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ConfigError
from engine.sweeps.grid import (
    MODEL_PREFIX,
    SweepPoint,
    check_grid_key,
    expand_grid,
    setting_label,
)
from engine.trainer.config import TrainConfig

_NAME_LIMIT = 80  # TrainConfig.name's own limit


def reference_config(preset: str | None) -> TrainConfig:
    """What a bare `cnnlab train [--preset P]` would use; the defaults for a preset label
    that is no longer known."""
    from engine.presets import resolve_config

    try:
        return resolve_config(preset)
    except ConfigError:
        return TrainConfig()


def _canonical_base(base: TrainConfig, grid: Mapping[str, Any]) -> TrainConfig:
    """`base` with its seed and every swept field at the value of its preset (or default)."""
    reference = reference_config(base.preset)
    known = reference.to_dict()
    fields = {k: known[k] for k in grid if k in known}  # an unknown key: validation names it
    canonical = base.replace(**{**fields, "seed": reference.seed})
    options = dict(canonical.model_options)
    for key in grid:
        if key.startswith(MODEL_PREFIX):
            option = key[len(MODEL_PREFIX) :]
            options.pop(option, None)
            if reference.model == canonical.model and option in reference.model_options:
                options[option] = reference.model_options[option]
    return canonical.replace(model_options=options)


@dataclass(frozen=True)
class SweepSpec:
    """The base config, the grid (normalized key → values, in the order given) and the
    seeds. Model options are swept as `model.<option>`."""

    base: TrainConfig = field(default_factory=TrainConfig)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=lambda: [0])

    def __post_init__(self) -> None:
        grid = {key: list(values) for key, values in self.grid.items()}
        object.__setattr__(self, "grid", grid)
        object.__setattr__(self, "seeds", [int(seed) for seed in self.seeds])
        object.__setattr__(self, "base", _canonical_base(self.base, grid))

    @property
    def preset(self) -> str | None:
        """The preset the base config started from (a label)."""
        return self.base.preset

    def to_dict(self) -> dict[str, Any]:
        return {
            "preset": self.preset,
            "base": self.base.to_dict(),
            "grid": {key: list(values) for key, values in self.grid.items()},
            "seeds": list(self.seeds),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepSpec:
        """Read a spec back; state files written before specs carried their base config
        hold `preset` and `overrides`, resolved here exactly as they were then."""
        if "base" in data:
            base = TrainConfig.from_dict(dict(data["base"]))
        else:
            from engine.presets import resolve_config

            base = resolve_config(data.get("preset"), dict(data.get("overrides") or {}))
        return cls(
            base=base,
            grid={key: list(values) for key, values in (data.get("grid") or {}).items()},
            seeds=[int(seed) for seed in data.get("seeds") or [0]],
        )

    @property
    def sweep_id(self) -> str:
        """`sweep-<preset or model>-<10 hex>`, a hash of the base config, the grid and the
        seeds: typing a default value explicitly (or not) gives the same sweep."""
        canonical = json.dumps(
            {
                "base": _hashed_base(self.base),
                "grid": [[key, values] for key, values in self.grid.items()],
                "seeds": self.seeds,
            },
            sort_keys=True,
            default=str,
        )
        digest = hashlib.sha256(canonical.encode()).hexdigest()[:10]
        label = self.preset or str(self.base.model or "run")
        return f"sweep-{re.sub(r'[^A-Za-z0-9_-]+', '-', label)}-{digest}"

    def points(self) -> list[SweepPoint]:
        return expand_grid(self.grid, self.seeds)


# Settings added after sweep ids were first handed out: left out of the hash while at their
# default, so that a sweep typed before they existed keeps its id (and resumes).
ADDED_LATER = (
    "init_from",
    "freeze_epochs",
    "head_lr_mult",
    "lookahead",
    "fourier_style",
    "crops_per_image",
    "sync_bn",
    "nproc_per_node",
)


def _hashed_base(base: TrainConfig) -> dict[str, Any]:
    data, defaults = base.to_dict(), TrainConfig().to_dict()
    return {k: v for k, v in data.items() if not (k in ADDED_LATER and v == defaults[k])}


def build_spec(
    base: TrainConfig, grid: Mapping[str, Sequence[Any]], seeds: Sequence[int]
) -> SweepSpec:
    """A sweep of `base` over `grid` (values already parsed, e.g. by `parse_grid`) × `seeds`.
    ConfigError for a grid key that is not a setting one may sweep or has no values."""
    for key, values in grid.items():
        check_grid_key(key)
        if not list(values):
            raise ConfigError({f"grid {key}": "no values"})
    return SweepSpec(base=base, grid={k: list(v) for k, v in grid.items()}, seeds=list(seeds))


def point_config(base: TrainConfig, point: SweepPoint) -> TrainConfig:
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


def point_problems(config: TrainConfig) -> dict[str, str]:
    """Field → message for a sweep's or search's point: the config's own checks, and one
    process per point (the engine's lanes run points side by side; a run over several
    processes is launched on its own)."""
    errors = config.validate()
    if config.nproc_per_node > 1 and "nproc_per_node" not in errors:
        errors["nproc_per_node"] = (
            "a sweep or search trains each point in one process; train a run over several "
            "processes on its own (cnnlab train --nproc-per-node N)"
        )
    return errors


def planned_configs(spec: SweepSpec) -> list[tuple[SweepPoint, TrainConfig]]:
    """Every point with its TrainConfig, all validated first so a bad value fails fast."""
    planned = [(point, point_config(spec.base, point)) for point in spec.points()]
    errors: dict[str, str] = {}
    for point, config in planned:
        for field_name, message in point_problems(config).items():
            where = point.label if point.setting else "base"
            errors.setdefault(f"{field_name} ({where})", message)
    if errors:
        raise ConfigError(errors)
    return planned
