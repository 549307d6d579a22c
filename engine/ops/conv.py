"""Hand-written 2-D convolution with torch's signature: arguments, autocast, autograd.

`conv2d` follows `torch.nn.functional.conv2d` exactly (names, argument order, semantics,
unbatched input, 'same'/'valid' padding) without calling torch's convolution. The work is
done by `im2col` (window gather + matrix multiply, chunk by chunk) or, for CUDA tensors, by
the implicit-GEMM Triton kernels of `triton_conv` (`select` decides which); `_Conv2dFunction`
wires their hand-written forward and backward into autograd. (Winograd kernels for 3x3
layers were tried twice and dropped: written with torch ops, their transforms cost as much
as the fewer multiplications save; benchmarks/README.md has the figures.)
"""

from __future__ import annotations

import contextlib

import torch
from torch.autograd.function import once_differentiable

from engine.errors import OpError
from engine.ops import im2col, select, triton_conv
from engine.ops._args import IntOrPair, as_batched, as_pair, check_window_fits
from engine.ops.im2col import ConvGeometry
from engine.ops.window import Padding4, Pair, is_channels_last

OP = "conv2d"


KERNELS = {"im2col": im2col, "triton": triton_conv}


class _Conv2dFunction(torch.autograd.Function):
    """Autograd wrapper: forward and backward both run the kernel `select` chose."""

    @staticmethod
    def forward(ctx, x, weight, bias, geo: ConvGeometry, kernel: str):  # noqa: D102
        out = KERNELS[kernel].forward(x, weight, bias, geo)
        ctx.save_for_backward(x, weight)
        ctx.geo, ctx.has_bias, ctx.kernel = geo, bias is not None, kernel
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):  # noqa: D102
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        layout = torch.channels_last if is_channels_last(x) else torch.contiguous_format
        grad_out = grad_out.contiguous(memory_format=layout)
        grad_x = grad_w = grad_b = None
        if need_x or need_w:
            kernel = KERNELS[ctx.kernel]
            grad_x, grad_w = kernel.backward(grad_out, x, weight, ctx.geo, need_x, need_w)
        if ctx.has_bias and need_b:
            grad_b = grad_out.sum(dim=(0, 2, 3))
        return grad_x, grad_w, grad_b, None, None


def resolve_padding(op: str, padding, kernel: Pair, stride: Pair, dilation: Pair) -> Padding4:
    """Resolve int / pair / 'valid' / 'same' to (top, bottom, left, right), as torch does.

    Shared with `MyConv2d`, so the layer refuses exactly what the function refuses."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise OpError(f"{op}: padding='same' needs stride 1, got stride {stride}")
            total = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
            # Like torch: odd totals put the extra row/column at the bottom/right.
            return (
                total[0] // 2,
                total[0] - total[0] // 2,
                total[1] // 2,
                total[1] - total[1] // 2,
            )
        raise OpError(f"{op}: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
    ph, pw = as_pair(op, "padding", padding, minimum=0)
    return (ph, ph, pw, pw)


def check_groups(
    op: str, groups, in_channels: int, out_channels: int, in_name: str = "input channels"
) -> None:
    """Raise unless `groups` is a positive int dividing both channel counts."""
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise OpError(f"{op}: groups must be a positive int, got {groups!r}")
    if in_channels % groups:
        raise OpError(f"{op}: {in_name} {in_channels} are not divisible by groups={groups}")
    if out_channels % groups:
        raise OpError(f"{op}: out_channels {out_channels} are not divisible by groups={groups}")


def _check_weights(x: torch.Tensor, weight: torch.Tensor, bias, groups: int) -> None:
    if not isinstance(weight, torch.Tensor) or weight.dim() != 4:
        shape = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
        raise OpError(
            f"{OP}: weight must be 4-D (out_channels, in_channels/groups, kh, kw), got {shape}"
        )
    channels, out_channels = x.shape[1], weight.shape[0]
    check_groups(OP, groups, channels, out_channels)
    if weight.shape[1] * groups != channels:
        raise OpError(
            f"{OP}: weight expects {weight.shape[1] * groups} input channels "
            f"({weight.shape[1]} per group x {groups} groups) but the input has {channels}"
        )
    if weight.dtype != x.dtype or weight.device != x.device:
        raise OpError(
            f"{OP}: input ({x.dtype}, {x.device}) and weight ({weight.dtype}, {weight.device}) "
            "must share dtype and device"
        )
    if bias is not None and (not isinstance(bias, torch.Tensor) or bias.shape != (out_channels,)):
        shape = tuple(bias.shape) if isinstance(bias, torch.Tensor) else type(bias).__name__
        raise OpError(f"{OP}: bias must have shape ({out_channels},), got {shape}")


def _autocast_inputs(x: torch.Tensor, weight, bias):
    """Under autocast, cast like torch does for its conv (differentiably, so gradients come
    back in the parameters' dtype) and run the Function with autocast off, so forward and
    backward see one dtype."""
    device_type = x.device.type
    try:
        enabled = torch.is_autocast_enabled(device_type)
    except RuntimeError:  # a device type autocast does not know
        enabled = False
    if not enabled or not isinstance(weight, torch.Tensor):
        return x, weight, bias, contextlib.nullcontext()
    dtype = torch.get_autocast_dtype(device_type)
    cast = [
        t.to(dtype) if t is not None and t.is_floating_point() else t for t in (x, weight, bias)
    ]
    return (*cast, torch.autocast(device_type, enabled=False))


def conv2d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair | str = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> torch.Tensor:
    """2-D cross-correlation with the semantics of `torch.nn.functional.conv2d`."""
    x, unbatched = as_batched(OP, input)
    x, weight, bias, autocast_off = _autocast_inputs(x, weight, bias)
    _check_weights(x, weight, bias, groups)
    kernel = (weight.shape[2], weight.shape[3])
    stride_ = as_pair(OP, "stride", stride, minimum=1)
    dilation_ = as_pair(OP, "dilation", dilation, minimum=1)
    pad = resolve_padding(OP, padding, kernel, stride_, dilation_)
    padded = (x.shape[2] + pad[0] + pad[1], x.shape[3] + pad[2] + pad[3])
    check_window_fits(OP, padded, kernel, dilation_, padding=(pad[0], pad[2]))
    geo = ConvGeometry(stride_, pad, dilation_, groups)
    with autocast_off:
        out = _Conv2dFunction.apply(x, weight, bias, geo, select.kernel_for(x))
    return out.squeeze(0) if unbatched else out
