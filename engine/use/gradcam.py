"""Where a classifier looked (Grad-CAM through Captum), and what its layers compute.

Grad-CAM weights a conv layer's activation maps by the gradient of one class score and
keeps the positive part: the regions that pushed the net towards that class. The layer is
the last one whose output is still an image (4-D, both sides ≥ 2), found by running the
model once, so it works for every conv model in the registry without naming layers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from engine.ops.layers import MyAvgPool2d, MyConv2d, MyMaxPool2d

CONV_TYPES = (nn.Conv2d, MyConv2d)
# Layers that only resample what came before: Grad-CAM belongs on the features themselves.
RESAMPLING = (
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
    nn.AvgPool2d,
    nn.MaxPool2d,
    nn.Identity,
    nn.Dropout,
    MyAvgPool2d,
    MyMaxPool2d,
)


@dataclass(frozen=True)
class Block:
    """A named module whose output is an image of feature maps."""

    name: str
    module: nn.Module
    shape: tuple[int, ...]  # (C, H, W) of its output for the probe input


def _spatial(output: object) -> bool:
    return isinstance(output, torch.Tensor) and output.dim() == 4 and min(output.shape[-2:]) >= 2


def _probe(model: nn.Module, modules: list[tuple[str, nn.Module]], x: torch.Tensor) -> list[Block]:
    """Run `model(x)` once; the modules of `modules` with spatial outputs, in the order
    their outputs were produced (first call only)."""
    found: dict[str, Block] = {}
    order: list[str] = []

    def hook(name: str, module: nn.Module):
        def record(_module, _inputs, output) -> None:
            if name not in found and _spatial(output):
                found[name] = Block(name, module, tuple(output.shape[1:]))
                order.append(name)

        return record

    handles = [module.register_forward_hook(hook(name, module)) for name, module in modules]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return [found[name] for name in order]


def cam_layer(model: nn.Module, x: torch.Tensor) -> Block | None:
    """The last module (not a pooling layer) to produce a spatial output; None for a net
    without one (mlp)."""
    modules = [(n, m) for n, m in model.named_modules() if n and not isinstance(m, RESAMPLING)]
    blocks = _probe(model, modules, x[:1])
    return blocks[-1] if blocks else None


def first_conv(model: nn.Module) -> nn.Module | None:
    """The first convolution that reads the image itself (3 input channels)."""
    for module in model.modules():
        if isinstance(module, CONV_TYPES) and module.weight.shape[1] == 3:
            return module
    return None


def _block_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The net's blocks: a sequence of composite modules is opened up (ResNet stages), a
    plain stack of several convs is taken conv by conv (AlexNet), anything else is one."""
    blocks: list[tuple[str, nn.Module]] = []

    def visit(prefix: str, module: nn.Module) -> None:
        for name, child in module.named_children():
            full = f"{prefix}{name}"
            kids = list(child.children())
            convs = [(f"{full}.{i}", k) for i, k in enumerate(kids) if isinstance(k, CONV_TYPES)]
            if isinstance(child, nn.Sequential) and kids and all(list(k.children()) for k in kids):
                visit(f"{full}.", child)
            elif isinstance(child, nn.Sequential) and len(convs) > 1:
                blocks.extend(convs)
            else:
                blocks.append((full, child))

    visit("", model)
    return blocks


def feature_maps(model: nn.Module, x: torch.Tensor) -> list[tuple[Block, torch.Tensor]]:
    """Each block's feature maps (C, H, W) for the single image `x` (1, 3, S, S)."""
    modules = _block_modules(model)
    maps: dict[str, torch.Tensor] = {}

    def hook(name: str):
        def record(_module, _inputs, output) -> None:
            if name not in maps and _spatial(output):
                maps[name] = output[0].detach().float().cpu().clone()

        return record

    handles = [module.register_forward_hook(hook(name)) for name, module in modules]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    by_name = dict(modules)
    return [(Block(name, by_name[name], tuple(m.shape)), m) for name, m in maps.items()]


def grad_cam(
    model: nn.Module, layer: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """(N, H, W) maps in [0, 1] at the inputs' size: Grad-CAM of class `targets[i]` for
    image i (Captum's `LayerGradCam`, upsampled bilinearly, each scaled to its maximum)."""
    from captum.attr import LayerAttribution, LayerGradCam

    cam = LayerGradCam(model, layer)
    with torch.enable_grad():
        attributions = cam.attribute(inputs, target=targets, relu_attributions=True)
    maps = LayerAttribution.interpolate(
        attributions.detach(), tuple(inputs.shape[-2:]), interpolate_mode="bilinear"
    )[:, 0].float()
    peak = maps.flatten(1).amax(dim=1).clamp_min(1e-12).view(-1, 1, 1)
    return (maps / peak).clamp(0, 1).cpu()
