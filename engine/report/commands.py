"""The exact commands that reproduce a run or a sweep, built from what is on disk.

A run's `config.json` is the resolved config; the command repeats only the fields that
differ from what its preset (or the defaults) would give, so it stays short enough to
read yet rebuilds the same config.
"""

from __future__ import annotations

import logging
import shlex
from typing import Any

from engine.sweeps.grid import format_value
from engine.sweeps.spec import SweepSpec

log = logging.getLogger(__name__)

# Fields that are labels or bookkeeping, not part of what a run computes.
_SKIPPED = frozenset({"name", "preset", "model_options"})


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _option_text(value: Any) -> str:
    """Model option values as `--model-opt` parses them (lists comma-separated)."""
    if isinstance(value, (list, tuple)):
        text = ",".join(format_value(item) for item in value)
        return text + "," if len(value) == 1 else text  # "16," stays a one-item list
    return format_value(value)


def baseline_config(preset: str | None) -> dict[str, Any]:
    """The config a bare `cnnlab train [--preset P]` would use (the defaults when the preset
    label is no longer known: every changed field is then listed)."""
    from engine.sweeps.spec import reference_config

    if preset:
        from engine.presets import PRESETS

        if preset not in PRESETS:
            log.info("preset %s not available; listing every changed field", preset)
    return reference_config(preset).to_dict()


def config_arguments(config: dict[str, Any], baseline: dict[str, Any]) -> list[str]:
    """`--field value` pairs and `--model-opt k=v` for everything that differs from baseline."""
    args: list[str] = []
    for name, value in config.items():
        if name in _SKIPPED or baseline.get(name) == value:
            continue
        if isinstance(value, bool):
            args.append(_flag(name) if value else f"--no-{name.replace('_', '-')}")
        elif value is None:
            args.extend([_flag(name), "none"])
        else:
            args.extend([_flag(name), format_value(value)])
    base_options = baseline.get("model_options") or {}
    for key, value in (config.get("model_options") or {}).items():
        if base_options.get(key) != value:
            args.extend(["--model-opt", f"{key}={_option_text(value)}"])
    return args


def train_command(config: dict[str, Any]) -> str:
    """`cnnlab train --preset P --lr 0.01 …` for one run's config."""
    preset = config.get("preset")
    words = ["cnnlab", "train"]
    if preset:
        words.extend(["--preset", preset])
    words.extend(config_arguments(config, baseline_config(preset)))
    return shlex.join(words)


def sweep_command(spec: SweepSpec) -> str:
    """`cnnlab sweep --preset P … --grid key=v1,v2 --seeds 0,1,2` for a sweep's spec: the
    base config's fields that differ from its preset's (or the defaults), then the grid."""
    words = ["cnnlab", "sweep"]
    if spec.preset:
        words.extend(["--preset", spec.preset])
    base = spec.base.to_dict()
    base.pop("seed")  # --seeds lists them
    baseline = baseline_config(spec.preset)
    words.extend(config_arguments(base, baseline))
    for key, values in spec.grid.items():
        name = key.replace("_", "-")
        words.extend(["--grid", f"{name}={','.join(format_value(v) for v in values)}"])
    words.extend(["--seeds", ",".join(str(seed) for seed in spec.seeds)])
    return shlex.join(words)
