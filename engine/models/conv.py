"""Plain conv classifiers: the lab's ConvModule (`conv`) and MyConvModule (`my_conv`).

The lab pools with ``F.avg_pool2d(out, 26)``, which only fits 32 px inputs; here an adaptive
average pool makes any image size work, and ``flatten`` replaces the lab's ``squeeze`` (which
also drops the batch dimension of a batch of one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor, nn

from engine.models._blocks import (
    CONV_IMPL,
    check_image_size,
    conv_bn_relu,
    fit_to_length,
    kernel_size_option,
    size_after,
    widths_option,
)
from engine.models._options import OptionSpec
from engine.models._registry import register_model

PADDING = OptionSpec(
    "padding",
    "choice",
    "valid",
    help="valid: no padding, each layer shrinks the image (the lab); same: keep the size",
    choices=("valid", "same"),
)


class ConvNet(nn.Module):
    """Conv → BN → ReLU layers, global average pool, one linear layer."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        widths: Sequence[int],
        kernel_size: int,
        dilations: Sequence[int],
        padding: str,
        conv_impl: str,
    ) -> None:
        super().__init__()
        self.features = self._make_layers(
            in_channels, widths, kernel_size, dilations, padding, conv_impl
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[-1], num_classes)

    @staticmethod
    def _make_layers(
        in_channels: int,
        widths: Sequence[int],
        kernel_size: int,
        dilations: Sequence[int],
        padding: str,
        conv_impl: str,
    ) -> nn.Sequential:
        layers = []
        for width, dilation in zip(widths, dilations, strict=True):
            layers.append(
                conv_bn_relu(
                    in_channels,
                    width,
                    kernel_size,
                    padding=0 if padding == "valid" else "same",
                    dilation=dilation,
                    conv_impl=conv_impl,
                )
            )
            in_channels = width
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        out = self.features(x)
        out = self.pool(out).flatten(1)
        return self.fc(out)


def layer_stack(kernel_size: int, dilations: Sequence[int], padding: str) -> list[tuple]:
    """The (kernel, stride, padding, dilation) list that `size_after` walks for a ConvNet."""
    if padding == "same":
        return []  # 'same' keeps the size, so any image works
    return [(kernel_size, 1, 0, d) for d in dilations]


def build_conv_net(
    model: str,
    *,
    num_classes: int,
    in_channels: int,
    image_size: int,
    widths: Sequence[int],
    kernel_size: int,
    dilations: Sequence[int],
    padding: str,
    conv_impl: str,
) -> ConvNet:
    """A ConvNet after checking that `image_size` survives its unpadded layers."""
    stack = layer_stack(kernel_size, dilations, padding)
    check_image_size(
        model,
        image_size,
        lambda s: size_after(s, stack),
        f"{len(dilations)} unpadded layer(s) of kernel {kernel_size}, "
        f"dilation(s) {', '.join(map(str, dilations))}",
    )
    return ConvNet(in_channels, num_classes, widths, kernel_size, dilations, padding, conv_impl)


def _layers_option(default: int) -> OptionSpec:
    return OptionSpec(
        "layers",
        "int",
        default,
        help="number of conv layers (widths are cut or their last value repeated to fit)",
        minimum=1,
        maximum=32,
    )


def _plain_conv_factory(model: str) -> Callable[..., ConvNet]:
    """The factory of a ConvNet registered as `model`: `layers` undilated conv layers."""

    def factory(
        *,
        num_classes: int,
        in_channels: int,
        image_size: int,
        layers: int,
        widths: list[int],
        kernel_size: int,
        padding: str,
        conv_impl: str,
    ) -> ConvNet:
        return build_conv_net(
            model,
            num_classes=num_classes,
            in_channels=in_channels,
            image_size=image_size,
            widths=fit_to_length(widths, layers),
            kernel_size=kernel_size,
            dilations=[1] * layers,
            padding=padding,
            conv_impl=conv_impl,
        )

    factory.__name__ = factory.__qualname__ = model
    return factory


conv = register_model(
    "conv",
    task="classify",
    description="The lab's ConvModule: 3× conv-BN-ReLU (32/64/128), pool, FC",
    options=(
        _layers_option(3),
        widths_option((32, 64, 128)),
        kernel_size_option(3),
        PADDING,
        CONV_IMPL,
    ),
)(_plain_conv_factory("conv"))

my_conv = register_model(
    "my_conv",
    task="classify",
    description="The lab's MyConvModule, on the hand-written MyConv2d",
    options=(
        _layers_option(1),
        widths_option((32,)),
        kernel_size_option(3),
        PADDING,
        OptionSpec(
            "conv_impl",
            "choice",
            "hand",
            help=CONV_IMPL.help,
            choices=CONV_IMPL.choices,
        ),
    ),
)(_plain_conv_factory("my_conv"))
