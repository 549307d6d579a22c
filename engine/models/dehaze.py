"""Dehazing nets: hazy image in [0,1] → clear image of the same size in [0,1].

All are fully convolutional with size-preserving padding, so they take any H×W.
- `dehaze_conv` / `dehaze_dilated`: plain conv stacks predicting the image through a sigmoid
  (the lab's conv and dilated-conv designs carried over to a regression task).
- `dehaze_residual`: predicts a correction added to the hazy input (a long skip, so it starts
  near the identity), with dilated residual blocks for context and channel attention for the
  image-wide airlight; the output is clamped to [0,1].
- `aod_net`: AOD-Net (Li et al. 2017), faithful: five 3-filter convs with concat layers
  estimate K(x), and J = ReLU(K·I − K + 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from engine.models._blocks import CONV_IMPL, kernel_size_option, make_conv, require_odd
from engine.models._options import OptionSpec
from engine.models._registry import register_model
from engine.models.dilated import hdc_report


def _dilated_conv(cin: int, cout: int, k: int, d: int, conv_impl: str) -> nn.Module:
    """A conv whose padding keeps the size for odd `k` and any dilation `d`."""
    return make_conv(cin, cout, k, padding=d * (k // 2), dilation=d, conv_impl=conv_impl)


class PlainDehazeNet(nn.Module):
    """head conv → one conv + ReLU per dilation → tail conv → sigmoid."""

    def __init__(
        self, channels: int, width: int, kernel_size: int, dilations: Sequence[int], conv_impl: str
    ) -> None:
        super().__init__()
        layers = [_dilated_conv(channels, width, kernel_size, 1, conv_impl), nn.ReLU(inplace=True)]
        for d in dilations:
            layers += [
                _dilated_conv(width, width, kernel_size, d, conv_impl),
                nn.ReLU(inplace=True),
            ]
        layers += [_dilated_conv(width, channels, kernel_size, 1, conv_impl), nn.Sigmoid()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation: reweights channels from image-wide statistics, which is where a
    net can read the global haze level and airlight colour."""

    def __init__(self, width: int, conv_impl: str, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(1, width // reduction)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            make_conv(width, hidden, 1, conv_impl=conv_impl),
            nn.ReLU(inplace=True),
            make_conv(hidden, width, 1, conv_impl=conv_impl),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(x)


class DilatedResidualBlock(nn.Module):
    """conv → ReLU → conv → channel attention, added to the input (no BatchNorm: it hurts
    image restoration with small batches)."""

    def __init__(self, width: int, kernel_size: int, dilation: int, conv_impl: str) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _dilated_conv(width, width, kernel_size, dilation, conv_impl),
            nn.ReLU(inplace=True),
            _dilated_conv(width, width, kernel_size, dilation, conv_impl),
            ChannelAttention(width, conv_impl),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResidualDehazeNet(nn.Module):
    """head → dilated residual blocks (+ long skip) → tail predicting a correction R;
    J = clamp(I + R, 0, 1)."""

    def __init__(
        self,
        channels: int,
        width: int,
        blocks: int,
        kernel_size: int,
        dilations: Sequence[int],
        conv_impl: str,
    ) -> None:
        super().__init__()
        self.head = _dilated_conv(channels, width, kernel_size, 1, conv_impl)
        self.body = nn.Sequential(
            *(
                DilatedResidualBlock(width, kernel_size, dilations[i % len(dilations)], conv_impl)
                for i in range(blocks)
            ),
            _dilated_conv(width, width, kernel_size, 1, conv_impl),
        )
        self.tail = _dilated_conv(width, channels, kernel_size, 1, conv_impl)
        with torch.no_grad():  # start close to the identity map J ≈ I
            self.tail.weight.mul_(0.1)
            self.tail.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        features = self.head(x)
        features = features + self.body(features)
        return torch.clamp(x + self.tail(features), 0.0, 1.0)


class AODNet(nn.Module):
    """AOD-Net's K-estimation module and clean-image generation, as in the paper: conv1 1×1,
    conv2 3×3, conv3 5×5 on [conv1, conv2], conv4 7×7 on [conv2, conv3], conv5 3×3 on
    [conv1..conv4]; every conv has 3 filters and a ReLU."""

    def __init__(self, channels: int, conv_impl: str, b: float = 1.0) -> None:
        super().__init__()
        self.b = b

        def conv(cin: int, cout: int, k: int) -> nn.Module:
            return make_conv(cin, cout, k, padding=k // 2, conv_impl=conv_impl)

        self.conv1 = conv(channels, 3, 1)
        self.conv2 = conv(3, 3, 3)
        self.conv3 = conv(6, 3, 5)
        self.conv4 = conv(6, 3, 7)
        self.conv5 = conv(12, channels, 3)
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        x1 = self.relu(self.conv1(x))
        x2 = self.relu(self.conv2(x1))
        x3 = self.relu(self.conv3(torch.cat([x1, x2], dim=1)))
        x4 = self.relu(self.conv4(torch.cat([x2, x3], dim=1)))
        k = self.relu(self.conv5(torch.cat([x1, x2, x3, x4], dim=1)))
        # ReLU as in the paper; the upper clamp only guards inputs outside [0, 1].
        return torch.clamp(k * x - k + self.b, 0.0, 1.0)


WIDTH = OptionSpec("width", "int", 32, help="channels of the hidden layers", minimum=1)


@register_model(
    "dehaze_conv",
    task="dehaze",
    description="Plain 5-layer conv stack predicting the clear image",
    options=(
        OptionSpec(
            "layers", "int", 5, help="conv layers incl. first and last", minimum=2, maximum=64
        ),
        WIDTH,
        kernel_size_option(3),
        CONV_IMPL,
    ),
)
def dehaze_conv(
    *,
    num_classes: int,
    in_channels: int,
    image_size: int,
    layers: int,
    width: int,
    kernel_size: int,
    conv_impl: str,
) -> PlainDehazeNet:
    require_odd("dehaze_conv", kernel_size)
    return PlainDehazeNet(in_channels, width, kernel_size, [1] * (layers - 2), conv_impl)


@register_model(
    "dehaze_dilated",
    task="dehaze",
    description="Conv stack with HDC-valid dilations 1,2,5,9",
    options=(
        OptionSpec(
            "dilations",
            "list[int]",
            (1, 2, 5, 9),
            help="dilation of each hidden layer; HDC-checked (a repeated 1,2,5 fails the check)",
            minimum=1,
        ),
        WIDTH,
        kernel_size_option(3),
        CONV_IMPL,
    ),
)
def dehaze_dilated(
    *,
    num_classes: int,
    in_channels: int,
    image_size: int,
    dilations: list[int],
    width: int,
    kernel_size: int,
    conv_impl: str,
) -> PlainDehazeNet:
    require_odd("dehaze_dilated", kernel_size)
    model = PlainDehazeNet(in_channels, width, kernel_size, dilations, conv_impl)
    model.hdc = hdc_report(dilations, kernel_size)
    return model


@register_model(
    "dehaze_residual",
    task="dehaze",
    description="Dilated residual blocks + channel attention, predicts J − I",
    options=(
        OptionSpec("blocks", "int", 6, help="residual blocks", minimum=1, maximum=64),
        WIDTH,
        OptionSpec(
            "dilations",
            "list[int]",
            (1, 2, 5),
            help="dilations the blocks cycle through (the lab's HDC sawtooth)",
            minimum=1,
        ),
        kernel_size_option(3),
        CONV_IMPL,
    ),
)
def dehaze_residual(
    *,
    num_classes: int,
    in_channels: int,
    image_size: int,
    blocks: int,
    width: int,
    dilations: list[int],
    kernel_size: int,
    conv_impl: str,
) -> ResidualDehazeNet:
    require_odd("dehaze_residual", kernel_size)
    return ResidualDehazeNet(in_channels, width, blocks, kernel_size, dilations, conv_impl)


@register_model(
    "aod_net",
    task="dehaze",
    description="AOD-Net: 5 small convs estimate K; J = ReLU(K·I − K + 1)",
    options=(CONV_IMPL,),
)
def aod_net(*, num_classes: int, in_channels: int, image_size: int, conv_impl: str) -> AODNet:
    return AODNet(in_channels, conv_impl)
