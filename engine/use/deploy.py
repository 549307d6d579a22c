"""The module that leaves cnnlab: the run's model with its preprocessing inside, built only
from torch's own layers so every exporter can read it.

`InferenceModel` takes images in [0, 1] at the run's size (resizing stays outside: it is a
decode step) and applies the run's normalisation and test-time augmentation, so a user of
the exported file needs nothing from cnnlab. Runs built on the hand-written convolution get
the same weights in `nn.Conv2d` (`torch_equivalent`), checked to give the same outputs:
`engine.ops.conv2d` is Python over strided views with its own autograd, which no tracer
can export, and the numbers are what the lesson is about, not the code path.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from engine.datasets.augment import to_float
from engine.ops.layers import MyConv2d
from engine.recipes import tta_logits, tta_outputs
from engine.use.loading import Preprocessing


class InferenceModel(nn.Module):
    """[0, 1] images (N, 3, H, W) → classification scores (logits; the log of the mean
    softmax under flip TTA) or dehazed images in [0, 1]."""

    def __init__(self, model: nn.Module, preprocessing: Preprocessing) -> None:
        super().__init__()
        self.model = model
        self.task = preprocessing.task
        self.normalize = preprocessing.normalize
        self.tta = preprocessing.tta
        mean = preprocessing.mean or (0.0, 0.0, 0.0)
        std = preprocessing.std or (1.0, 1.0, 1.0)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        inputs = to_float(images, self.normalize, mean=self.mean, std=self.std)
        if self.task == "classify":
            return tta_logits(self.model, inputs, self.tta)
        return tta_outputs(self.model, inputs, self.tta)


def torch_equivalent(model: nn.Module) -> tuple[nn.Module, int]:
    """A copy of `model` with every `MyConv2d` replaced by an `nn.Conv2d` holding the same
    weights, and how many were replaced (0: the copy is the model itself, uncopied)."""
    if not any(isinstance(m, MyConv2d) for m in model.modules()):
        return model, 0
    clone = copy.deepcopy(model)
    replaced = 0
    for parent in list(clone.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, MyConv2d):
                setattr(parent, name, _as_conv2d(child))
                replaced += 1
    return clone, replaced


def _as_conv2d(layer: MyConv2d) -> nn.Conv2d:
    conv = nn.Conv2d(
        layer.in_channels,
        layer.out_channels,
        layer.kernel_size,
        stride=layer.stride,
        padding=layer.padding,
        dilation=layer.dilation,
        groups=layer.groups,
        bias=layer.bias is not None,
        padding_mode=layer.padding_mode,
        device=layer.weight.device,
        dtype=layer.weight.dtype,
    )
    conv.load_state_dict(layer.state_dict())
    return conv
