"""The lab's DilatedConvModule (`dilated`): the ConvModule with dilations 1, 2, 5.

Any list of dilations is accepted — including gridding-prone ones like [2, 4, 6] — because
the lab's point is to compare them; the model carries the `hdc_check` verdict as `model.hdc`
so a UI can show why a list is (not) a good Hybrid Dilated Convolution design.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.models._blocks import CONV_IMPL, fit_to_length, kernel_size_option, widths_option
from engine.models._options import OptionSpec
from engine.models._registry import register_model
from engine.models.conv import PADDING, ConvNet, build_conv_net

if TYPE_CHECKING:
    from engine.ops.arithmetic import HDCReport

DILATIONS = OptionSpec(
    "dilations",
    "list[int]",
    (1, 2, 5),
    help="dilation of each conv layer (one layer per value); HDC-checked",
    minimum=1,
)


def hdc_report(dilations: list[int], kernel_size: int) -> HDCReport:
    """`engine.ops.hdc_check` of the dilations (imported lazily: ops owns the arithmetic)."""
    from engine.ops.arithmetic import hdc_check

    return hdc_check(dilations, kernel_size)


@register_model(
    "dilated",
    task="classify",
    description="The lab's DilatedConvModule: dilations 1,2,5, HDC-checked",
    options=(
        DILATIONS,
        widths_option((32, 64, 128), help="output channels per layer (fitted to the dilations)"),
        kernel_size_option(3),
        PADDING,
        CONV_IMPL,
    ),
)
def dilated(
    *,
    num_classes: int,
    in_channels: int,
    image_size: int,
    dilations: list[int],
    widths: list[int],
    kernel_size: int,
    padding: str,
    conv_impl: str,
) -> ConvNet:
    model = build_conv_net(
        "dilated",
        num_classes=num_classes,
        in_channels=in_channels,
        image_size=image_size,
        widths=fit_to_length(widths, len(dilations)),
        kernel_size=kernel_size,
        dilations=dilations,
        padding=padding,
        conv_impl=conv_impl,
    )
    model.hdc = hdc_report(dilations, kernel_size)
    return model
