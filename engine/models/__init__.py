"""The model zoo behind one small registry (`create_model("resnet18", num_classes=3)`).

Importing this package imports each model family so its factories register themselves;
nothing is built until `create_model` is called.
"""

from engine.errors import ModelError
from engine.models import (  # noqa: F401
    airbench,
    alexnet,
    conv,
    dcp,
    dehaze,
    dehaze_unet,
    dilated,
    mlp,
    residual,
)
from engine.models._blocks import make_conv
from engine.models._options import OPTION_KINDS, OptionSpec
from engine.models._registry import (
    TASKS,
    ModelInfo,
    count_parameters,
    create_model,
    get_model_info,
    list_models,
    parameter_count,
    register_model,
    resolve_options,
)

__all__ = [
    "OPTION_KINDS",
    "TASKS",
    "ModelError",
    "ModelInfo",
    "OptionSpec",
    "count_parameters",
    "create_model",
    "get_model_info",
    "list_models",
    "make_conv",
    "parameter_count",
    "register_model",
    "resolve_options",
]
