"""Test-time augmentation: average the model over label-preserving views of each image.

A horizontal flip never changes a vehicle's class or a scene's haze, so averaging the model
over the image and its mirror removes some of the variance that one view carries.
"flip_translate" (classification, as airbench scores CIFAR-10) adds two one-pixel
translations (up-left and down-right, reflection-padded; S/32 pixels for larger images),
each with its mirror: half the weight on the image and its mirror, a quarter on each shift.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
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
    if mode == "none":
        return model(inputs)
    probs = _mirror_probs(model, inputs)
    if mode == "flip_translate":
        shifted = [_mirror_probs(model, view) for view in _translations(inputs)]
        probs = probs / 2 + (shifted[0] + shifted[1]) / 4
    return probs.clamp_min(1e-12).log()


def _mirror_probs(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    return (model(inputs).float().softmax(1) + model(inputs.flip(-1)).float().softmax(1)) / 2


def _translations(inputs: torch.Tensor) -> list[torch.Tensor]:
    """The images moved up-left and down-right by max(1, S/32) pixels (reflect padding)."""
    h, w = inputs.shape[-2:]
    s = max(1, min(h, w) // 32)
    padded = F.pad(inputs, (s, s, s, s), mode="reflect")
    return [padded[..., 2 * s : 2 * s + h, 2 * s : 2 * s + w], padded[..., :h, :w]]


def tta_outputs(model: nn.Module, inputs: torch.Tensor, mode: str = "none") -> torch.Tensor:
    """Image-to-image: the output of `inputs`; with "flip", the mean of it and the mirrored
    output of the mirrored input ("flip_translate" is for classification only)."""
    _check(mode)
    if mode == "flip_translate":
        raise ConfigError({"tta": "flip_translate is for classification; use flip"})
    outputs = model(inputs)
    if mode == "none":
        return outputs
    return (outputs + model(inputs.flip(-1)).flip(-1)) / 2
