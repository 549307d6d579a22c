"""Residual nets: the lab's small `residual` net, `resnet18`, and its shortcut-free twin.

`plain18` is `resnet18` with every shortcut removed — the same 18 weight layers and almost
the same parameters — so that a run of each reproduces the lab's "deep plain nets train worse"
comparison with nothing else changed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from engine.models._blocks import (
    CONV_IMPL,
    conv_bn_relu,
    kernel_size_option,
    make_conv,
    require_odd,
    widths_option,
)
from engine.models._options import OptionSpec
from engine.models._registry import register_model


class ResidualBlock(nn.Module):
    """The lab's ResidualBlock (ResNet's basic block): two conv-BN, added to the shortcut,
    then ReLU ("add, then activate"). A 1×1 conv-BN shortcut matches the shape when the
    stride or the channels change; `shortcut=False` gives the plain two-conv block."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        *,
        kernel_size: int = 3,
        shortcut: bool = True,
        conv_impl: str = "torch",
    ) -> None:
        super().__init__()
        padding = kernel_size // 2
        self.left = nn.Sequential(
            conv_bn_relu(
                in_channels,
                out_channels,
                kernel_size,
                stride=stride,
                padding=padding,
                conv_impl=conv_impl,
            ),
            make_conv(
                out_channels,
                out_channels,
                kernel_size,
                padding=padding,
                bias=False,
                conv_impl=conv_impl,
            ),
            nn.BatchNorm2d(out_channels),
        )
        self.shortcut: nn.Module | None = None
        if shortcut and (stride != 1 or in_channels != out_channels):
            self.shortcut = nn.Sequential(
                make_conv(
                    in_channels, out_channels, 1, stride=stride, bias=False, conv_impl=conv_impl
                ),
                nn.BatchNorm2d(out_channels),
            )
        elif shortcut:
            self.shortcut = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        out = self.left(x)
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return F.relu(out)


class ResNet(nn.Module):
    """Optional stem (CIFAR's 3×3 or ImageNet's 7×7/2 + pool), then stages of blocks (the
    first keeps the size, each later one halves it), global average pool, linear —
    kuangliu/pytorch-cifar's CIFAR ResNet."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        widths: Sequence[int],
        blocks_per_stage: Sequence[int],
        *,
        stem_width: int | None,
        stem: str = "cifar",
        kernel_size: int = 3,
        shortcut: bool = True,
        conv_impl: str = "torch",
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.stem: nn.Module = nn.Identity()
        if stem_width is not None:
            self.stem = _stem(in_channels, stem_width, stem, conv_impl)
            self.in_channels = stem_width
        self.layers = nn.Sequential(
            *(
                self._make_layer(
                    width, blocks, 1 if i == 0 else 2, kernel_size, shortcut, conv_impl
                )
                for i, (width, blocks) in enumerate(zip(widths, blocks_per_stage, strict=True))
            )
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[-1], num_classes)

    def _make_layer(
        self,
        width: int,
        blocks: int,
        stride: int,
        kernel_size: int,
        shortcut: bool,
        conv_impl: str,
    ) -> nn.Sequential:
        layers = []
        for block_stride in [stride] + [1] * (blocks - 1):
            layers.append(
                ResidualBlock(
                    self.in_channels,
                    width,
                    block_stride,
                    kernel_size=kernel_size,
                    shortcut=shortcut,
                    conv_impl=conv_impl,
                )
            )
            self.in_channels = width
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        out = self.layers(self.stem(x))
        return self.fc(self.pool(out).flatten(1))


def _stem(in_channels: int, width: int, kind: str, conv_impl: str) -> nn.Sequential:
    """CIFAR's 3×3 conv-BN-ReLU (keeps the size), or ImageNet's 7×7/2 conv-BN-ReLU and 3×3/2
    max pool (a quarter of the size: torchvision's layout, so its weights fit)."""
    if kind == "cifar":
        return conv_bn_relu(in_channels, width, 3, padding=1, conv_impl=conv_impl)
    return nn.Sequential(
        *conv_bn_relu(in_channels, width, 7, stride=2, padding=3, conv_impl=conv_impl),
        nn.MaxPool2d(3, stride=2, padding=1),
    )


@register_model(
    "residual",
    task="classify",
    description="The lab's small residual net: 3 ResidualBlocks (32/64/128)",
    options=(
        widths_option((32, 64, 128), help="output channels of each residual block"),
        kernel_size_option(3),
        CONV_IMPL,
    ),
)
def residual(
    *,
    num_classes: int,
    in_channels: int,
    image_size: int,
    widths: list[int],
    kernel_size: int,
    conv_impl: str,
) -> ResNet:
    require_odd("residual", kernel_size)
    return ResNet(
        in_channels,
        num_classes,
        widths,
        [1] * len(widths),
        stem_width=None,
        kernel_size=kernel_size,
        conv_impl=conv_impl,
    )


BASE_WIDTH = OptionSpec(
    "base_width",
    "int",
    64,
    help="channels of the first stage (doubled at each of the 4 stages); 16 is CPU-friendly",
    minimum=1,
)


STEM = OptionSpec(
    "stem",
    "choice",
    "cifar",
    help="cifar: 3×3 conv, full size (the lab's); imagenet: 7×7/2 conv + 3×3/2 max pool "
    "(torchvision's layout, for its ImageNet weights)",
    choices=("cifar", "imagenet"),
)


def _resnet18(
    num_classes: int, in_channels: int, base_width: int, stem: str, shortcut: bool, conv_impl: str
) -> ResNet:
    return ResNet(
        in_channels,
        num_classes,
        [base_width * 2**i for i in range(4)],
        [2, 2, 2, 2],
        stem_width=base_width,
        stem=stem,
        shortcut=shortcut,
        conv_impl=conv_impl,
    )


@register_model(
    "resnet18",
    task="classify",
    description="ResNet-18, CIFAR-style 3×3 stem (stem=imagenet: torchvision's)",
    options=(BASE_WIDTH, STEM, CONV_IMPL),
)
def resnet18(
    *,
    num_classes: int,
    in_channels: int,
    image_size: int,
    base_width: int,
    stem: str,
    conv_impl: str,
) -> ResNet:
    return _resnet18(num_classes, in_channels, base_width, stem, True, conv_impl)


@register_model(
    "plain18",
    task="classify",
    description="resnet18 without shortcuts: the plain-vs-residual baseline",
    options=(BASE_WIDTH, STEM, CONV_IMPL),
)
def plain18(
    *,
    num_classes: int,
    in_channels: int,
    image_size: int,
    base_width: int,
    stem: str,
    conv_impl: str,
) -> ResNet:
    return _resnet18(num_classes, in_channels, base_width, stem, False, conv_impl)
