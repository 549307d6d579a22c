"""Training: one config dataclass, typed events, and a `Trainer` that runs in a thread.

`Trainer` is imported on first use: the run store imports `engine.trainer.events`, and the
trainer imports the run store, so an eager import here would be circular.
"""

from typing import Any

from engine.trainer.config import ConfigField, TrainConfig, config_fields, parse_model_option
from engine.trainer.events import (
    BatchProgress,
    EpochEnd,
    Event,
    Log,
    RunFinished,
    RunStarted,
    Samples,
)

__all__ = [
    "BatchProgress",
    "ConfigField",
    "EpochEnd",
    "Event",
    "Log",
    "RunFinished",
    "RunStarted",
    "Samples",
    "TrainConfig",
    "Trainer",
    "config_fields",
    "parse_model_option",
]


def __getattr__(name: str) -> Any:
    if name == "Trainer":
        from engine.trainer.loop import Trainer

        return Trainer
    raise AttributeError(f"module 'engine.trainer' has no attribute {name!r}")
