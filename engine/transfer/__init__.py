"""Transfer learning: start a run from another run's weights or torchvision's ImageNet
weights, with the classifier head re-initialised when the classes differ.

`resolve_source(init_from)` finds the weights, `load_weights(model, …)` copies them under
strict key and shape rules and returns a `TransferReport`, and `freeze.py` has the
fine-tuning helpers (frozen backbone, head learning rate). See docs/architecture.md.
"""

from engine.transfer.apply import initialise
from engine.transfer.freeze import (
    backbone_frozen,
    parameter_groups,
    set_backbone_frozen,
    split_parameters,
)
from engine.transfer.hub import HUB_MODELS, cache_file, download_weights, find_weights
from engine.transfer.load import head_keys, load_weights
from engine.transfer.report import TransferError, TransferReport
from engine.transfer.sources import WeightSource, resolve_source

__all__ = [
    "HUB_MODELS",
    "TransferError",
    "TransferReport",
    "WeightSource",
    "backbone_frozen",
    "cache_file",
    "download_weights",
    "find_weights",
    "head_keys",
    "initialise",
    "load_weights",
    "parameter_groups",
    "resolve_source",
    "set_backbone_frozen",
    "split_parameters",
]
