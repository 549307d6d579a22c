"""Pieces shared by the model families: the conv factory, common option specs, size checks.

`make_conv` is the single place where `conv_impl` chooses between `nn.Conv2d` and the
hand-written `engine.ops.MyConv2d`, so every conv model gets the swap for free.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

from engine.errors import ModelError
from engine.models._options import OptionSpec

CONV_IMPLS: tuple[str, ...] = ("torch", "hand")

CONV_IMPL = OptionSpec(
    "conv_impl",
    "choice",
    "torch",
    help="torch: nn.Conv2d; hand: the hand-written engine.ops.MyConv2d",
    choices=CONV_IMPLS,
)


def kernel_size_option(default: int = 3) -> OptionSpec:
    return OptionSpec("kernel_size", "int", default, help="square kernel size", minimum=1)


def widths_option(default: Sequence[int], help: str = "output channels per layer") -> OptionSpec:
    return OptionSpec("widths", "list[int]", tuple(default), help=help, minimum=1)


def make_conv(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    *,
    stride: int = 1,
    padding: int | str = 0,
    dilation: int = 1,
    bias: bool = True,
    conv_impl: str = "torch",
) -> nn.Module:
    """A 2-D convolution, either torch's or the hand-written drop-in (same parameters)."""
    if conv_impl == "torch":
        conv_cls: Callable[..., nn.Module] = nn.Conv2d
    elif conv_impl == "hand":
        # Imported here so that models built on torch's conv never depend on engine.ops.
        from engine.ops.layers import MyConv2d

        conv_cls = MyConv2d
    else:
        raise ModelError(f"option 'conv_impl' must be one of {', '.join(CONV_IMPLS)}")
    return conv_cls(
        in_channels,
        out_channels,
        kernel_size,
        stride=stride,
        padding=padding,
        dilation=dilation,
        bias=bias,
    )


def conv_bn_relu(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    *,
    stride: int = 1,
    padding: int | str = 0,
    dilation: int = 1,
    conv_impl: str = "torch",
) -> nn.Sequential:
    """Conv → BatchNorm → ReLU. The conv has no bias: BatchNorm would subtract it anyway
    (its gradient would be exactly zero)."""
    return nn.Sequential(
        make_conv(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            bias=False,
            conv_impl=conv_impl,
        ),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def fit_to_length(values: Sequence[int], length: int) -> list[int]:
    """`values` cut or extended (repeating the last one) to `length` items.

    Lets a form change the number of layers without also having to edit the widths.
    """
    values = list(values)
    return values[:length] + [values[-1]] * max(0, length - len(values))


def conv_output_size(
    size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """Output side of a conv or pool (torch's floor formula); ≤ 0 means the input is too small."""
    effective = dilation * (kernel_size - 1) + 1
    return (size + 2 * padding - effective) // stride + 1


def size_after(size: int, layers: Sequence[tuple[int, int, int, int]]) -> int:
    """Side after a stack of (kernel, stride, padding, dilation) layers; 0 once it vanishes."""
    for kernel_size, stride, padding, dilation in layers:
        size = conv_output_size(size, kernel_size, stride, padding, dilation)
        if size < 1:
            return 0
    return size


def minimum_input_size(final_size: Callable[[int], int], limit: int = 4096) -> int:
    """Smallest input side for which `final_size(side)` ≥ 1 (sizes only grow monotonically)."""
    low, high = 1, limit
    if final_size(high) < 1:
        return limit + 1
    while low < high:
        mid = (low + high) // 2
        if final_size(mid) >= 1:
            high = mid
        else:
            low = mid + 1
    return low


def check_image_size(
    model: str, image_size: int, final_size: Callable[[int], int], why: str
) -> None:
    """ModelError stating the minimum size when `image_size` leaves no pixels at the end."""
    if final_size(image_size) >= 1:
        return
    minimum = minimum_input_size(final_size)
    raise ModelError(
        f"image_size {image_size} is too small for '{model}' with {why}: "
        f"it needs at least {minimum} px"
    )


def require_odd(model: str, kernel_size: int) -> None:
    """Size-preserving padding (k // 2) only exists for odd kernels."""
    if kernel_size % 2 == 0:
        raise ModelError(
            f"option 'kernel_size' must be odd for '{model}' (it keeps the image size); "
            f"got {kernel_size}"
        )
