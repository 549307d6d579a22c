"""`nn.Module` wrappers around the hand-written ops, drop-ins for their torch namesakes.

`MyConv2d` takes exactly `nn.Conv2d`'s constructor arguments, creates the same parameters in
the same order and initialises them the same way, so with the same seed it starts from the
same weights and a state dict moves between the two unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn import init

from engine.errors import OpError
from engine.ops._args import IntOrPair, as_pair
from engine.ops.conv import check_groups, conv2d, resolve_padding
from engine.ops.pool import avg_pool2d, max_pool2d, max_unpool2d

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class MyConv2d(nn.Module):
    """2-D convolution on `engine.ops.conv2d`; same constructor and init as `nn.Conv2d`."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrPair,
        stride: IntOrPair = 1,
        padding: IntOrPair | str = 0,
        dilation: IntOrPair = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        check_groups(name, groups, in_channels, out_channels, in_name="in_channels")
        if padding_mode not in PADDING_MODES:
            raise OpError(
                f"{name}: padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = as_pair(name, "kernel_size", kernel_size, minimum=1)
        self.stride = as_pair(name, "stride", stride, minimum=1)
        self.dilation = as_pair(name, "dilation", dilation, minimum=1)
        # conv2d's own rules, resolved once: (top, bottom, left, right) for padding modes.
        self._pad4 = resolve_padding(name, padding, self.kernel_size, self.stride, self.dilation)
        self.padding: tuple[int, int] | str = (
            padding if isinstance(padding, str) else (self._pad4[0], self._pad4[2])
        )
        self.groups = groups
        self.padding_mode = padding_mode
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(
            torch.empty((out_channels, in_channels // groups, *self.kernel_size), **factory)
        )
        if bias:
            self.bias = nn.Parameter(torch.empty(out_channels, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Exactly `nn.Conv2d.reset_parameters`: same distributions, same RNG order."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def _explicit_padding(self) -> list[int]:
        """(left, right, top, bottom) for `F.pad` when padding_mode is not 'zeros'."""
        top, bottom, left, right = self._pad4
        return [left, right, top, bottom]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding_mode != "zeros":
            x = F.pad(x, self._explicit_padding(), mode=self.padding_mode)
            return conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return conv2d(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        text += f", stride={self.stride}"
        if self.padding not in ((0, 0), "valid"):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode}"
        return text


class MyMaxPool2d(nn.Module):
    """Max pooling on `engine.ops.max_pool2d`; `nn.MaxPool2d`'s arguments, in its order."""

    def __init__(
        self,
        kernel_size: IntOrPair,
        stride: IntOrPair | None = None,
        padding: IntOrPair = 0,
        dilation: IntOrPair = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, x: torch.Tensor):
        return max_pool2d(
            x,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            ceil_mode=self.ceil_mode,
            return_indices=self.return_indices,
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class MyAvgPool2d(nn.Module):
    """Average pooling on `engine.ops.avg_pool2d`; same arguments as `nn.AvgPool2d`."""

    def __init__(
        self,
        kernel_size: IntOrPair,
        stride: IntOrPair | None = None,
        padding: IntOrPair = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return avg_pool2d(
            x,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MyMaxUnpool2d(nn.Module):
    """Max unpooling on `engine.ops.max_unpool2d`; same arguments as `nn.MaxUnpool2d`."""

    def __init__(
        self, kernel_size: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.kernel_size = as_pair(name, "kernel_size", kernel_size, minimum=1)
        self.stride = as_pair(name, "stride", stride, minimum=1) if stride else self.kernel_size
        self.padding = as_pair(name, "padding", padding, minimum=0)

    def forward(
        self, x: torch.Tensor, indices: torch.Tensor, output_size: Sequence[int] | None = None
    ) -> torch.Tensor:
        return max_unpool2d(x, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
