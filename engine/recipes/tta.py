"""Test-time augmentation: average the model over label-preserving views of each image.

A horizontal flip never changes a vehicle's class or a scene's haze, so averaging the model
over the image and its mirror removes some of the variance that one view carries.
"""

from __future__ import annotations

import torch
from torch import nn

from engine.errors import ConfigError
from engine.trainer.config import TTA_MODES


def _check(mode: str) -> None:
    if mode not in TTA_MODES:
        raise ConfigError({"tta": f"must be one of {', '.join(TTA_MODES)}; got {mode!r}"})


def tta_logits(model: nn.Module, inputs: torch.Tensor, mode: str = "none") -> torch.Tensor:
    """Classification: logits of `inputs`; with "flip", the log of the mean softmax over the
    image and its mirror (so argmax and cross-entropy both stay meaningful)."""
    _check(mode)
    logits = model(inputs)
    if mode == "none":
        return logits
    mirrored = model(inputs.flip(-1))
    probs = (logits.float().softmax(1) + mirrored.float().softmax(1)) / 2
    return probs.clamp_min(1e-12).log()


def tta_outputs(model: nn.Module, inputs: torch.Tensor, mode: str = "none") -> torch.Tensor:
    """Image-to-image: the output of `inputs`; with "flip", the mean of it and the mirrored
    output of the mirrored input."""
    _check(mode)
    outputs = model(inputs)
    if mode == "none":
        return outputs
    return (outputs + model(inputs.flip(-1)).flip(-1)) / 2
