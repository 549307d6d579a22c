"""Training: the one config dataclass (`engine.trainer.config`, importable without torch)
and the `Trainer` that runs it in a thread (`engine.trainer.loop`, which loads torch).

Only the config is re-exported here, so `import engine.trainer.config` stays cheap; import
the trainer itself as `from engine.trainer.loop import Trainer`. The events a run publishes
are in `engine.events`.
"""

from engine.trainer.config import (
    ConfigField,
    TrainConfig,
    config_fields,
    parse_field_list,
    parse_field_text,
    parse_model_option,
)

__all__ = [
    "ConfigField",
    "TrainConfig",
    "config_fields",
    "parse_field_list",
    "parse_field_text",
    "parse_model_option",
]
