"""`dehaze_unet`: a small U-Net that predicts the correction J − I, for context at low cost.

Haze depends on scene depth and one image-wide airlight, so a dehazer needs a large view of
the image. Dilated blocks at full resolution (`dehaze_residual`) buy it pixel by pixel; a
U-Net halves the resolution and doubles the width at each level, so every level costs about
the same and the coarsest one sees most of the image. Skips are added, not concatenated
(cheaper, and the decoder starts as "keep the encoder's features"); the coarsest level has
channel attention for the global airlight. Like `dehaze_residual`, the output is
clamp(I + R, 0, 1) with a tail initialised small, so training starts near the identity.
Any H×W works (decoder features are resized to the skip's size when a side is odd).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.models._blocks import CONV_IMPL, make_conv
from engine.models._options import OptionSpec
from engine.models._registry import register_model
from engine.models.dehaze import ChannelAttention


class _Block(nn.Module):
    """conv → ReLU → conv, added to the input (no BatchNorm, as in `dehaze_residual`)."""

    def __init__(self, width: int, conv_impl: str, attention: bool = False):
        super().__init__()
        layers = [
            make_conv(width, width, 3, padding=1, conv_impl=conv_impl),
            nn.ReLU(inplace=True),
            make_conv(width, width, 3, padding=1, conv_impl=conv_impl),
        ]
        if attention:
            layers.append(ChannelAttention(width, conv_impl))
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class DehazeUNet(nn.Module):
    def __init__(self, channels: int, width: int, levels: int, blocks: int, conv_impl: str):
        super().__init__()
        widths = [width * 2**i for i in range(levels + 1)]
        self.head = make_conv(channels, width, 3, padding=1, conv_impl=conv_impl)
        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        for i in range(levels):
            self.encoders.append(
                nn.Sequential(*(_Block(widths[i], conv_impl) for _ in range(blocks)))
            )
            self.downs.append(
                make_conv(widths[i], widths[i + 1], 3, stride=2, padding=1, conv_impl=conv_impl)
            )
        self.bottom = nn.Sequential(
            *(_Block(widths[-1], conv_impl, attention=True) for _ in range(blocks))
        )
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for i in reversed(range(levels)):
            self.ups.append(make_conv(widths[i + 1], widths[i], 1, conv_impl=conv_impl))
            self.decoders.append(
                nn.Sequential(*(_Block(widths[i], conv_impl) for _ in range(blocks)))
            )
        self.tail = make_conv(width, channels, 3, padding=1, conv_impl=conv_impl)
        with torch.no_grad():  # start close to the identity map J ≈ I
            self.tail.weight.mul_(0.1)
            self.tail.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        features = self.head(x)
        skips = []
        for encoder, down in zip(self.encoders, self.downs, strict=True):
            features = encoder(features)
            skips.append(features)
            features = F.relu(down(features))
        features = self.bottom(features)
        for up, decoder, skip in zip(self.ups, self.decoders, reversed(skips), strict=True):
            features = F.interpolate(up(features), size=skip.shape[-2:], mode="bilinear")
            features = decoder(features + skip)
        return torch.clamp(x + self.tail(features), 0.0, 1.0)


@register_model(
    "dehaze_unet",
    task="dehaze",
    description="U-Net with added skips and bottom attention, predicts J − I",
    options=(
        OptionSpec("width", "int", 24, help="channels of the full-resolution level", minimum=1),
        OptionSpec("levels", "int", 3, help="times the resolution halves", minimum=1, maximum=6),
        OptionSpec("blocks", "int", 1, help="residual blocks per level", minimum=1, maximum=8),
        CONV_IMPL,
    ),
)
def dehaze_unet(
    *, num_classes: int, in_channels: int, image_size: int, width: int, levels: int, blocks: int,
    conv_impl: str,
) -> DehazeUNet:  # fmt: skip
    return DehazeUNet(in_channels, width, levels, blocks, conv_impl)
