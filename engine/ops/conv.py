"""Hand-written 2-D convolution: one window gather and one (group-batched) matmul.

`conv2d` follows `torch.nn.functional.conv2d` exactly (names, argument order, semantics,
unbatched input, 'same'/'valid' padding) without calling torch's convolution. Autograd goes
through `_Conv2dFunction`, whose backward is written by hand too:

* grad_weight = grad_output @ columns (columns re-gathered from the saved input, which
  costs one copy but saves kh*kw times the input's memory);
* grad_input, stride 1: the convolution of the padded grad_output with the flipped,
  channel-transposed kernel — the same primitive again;
* grad_input, stride > 1: columns = grad_output @ weight, added back into the input's
  windows (col2im), which avoids convolving a mostly-zero, stride-dilated grad_output.
"""

from __future__ import annotations

import contextlib

import torch
from torch.autograd.function import once_differentiable

from engine.errors import OpError
from engine.ops._args import IntOrPair, as_batched, as_pair, check_window_fits
from engine.ops.window import (
    Padding4,
    Pair,
    is_channels_last,
    pad2d,
    scatter_windows_,
    window_view,
    windowed_size,
)

OP = "conv2d"


# The gathered columns follow the input's memory so that the one big copy reads long
# contiguous runs: NCHW gathers (G, K, M) with K = (Cg, kh, kw) and rows of output pixels
# (OW innermost); NHWC gathers (G, M, K) with K = (kh, kw, Cg) (channels innermost).
# M = N*OH*OW is always ordered (N, OH, OW).


def _columns(xp: torch.Tensor, kernel: Pair, stride: Pair, dilation: Pair, groups: int):
    """Windows of the padded input as one matmul operand (layout chosen by `xp`'s memory)."""
    windows = window_view(xp, kernel, stride, dilation)  # N, C, OH, OW, kh, kw
    n, c, out_h, out_w = windows.shape[:4]
    grouped = windows.unflatten(1, (groups, c // groups))  # N, G, Cg, OH, OW, kh, kw
    if is_channels_last(xp):
        return grouped.permute(1, 0, 3, 4, 5, 6, 2).reshape(groups, n * out_h * out_w, -1)
    return grouped.permute(1, 2, 5, 6, 0, 3, 4).reshape(groups, -1, n * out_h * out_w)


def _weight_matrix(weight: torch.Tensor, groups: int, nhwc: bool) -> torch.Tensor:
    """weight (O, Cg, kh, kw) as (G, Og, K), K in the same order as `_columns`."""
    o, cg, kh, kw = weight.shape
    w = weight.view(groups, o // groups, cg, kh, kw)
    return (w.permute(0, 1, 3, 4, 2) if nhwc else w).reshape(groups, o // groups, -1)


def _grad_output_matrix(grad_out: torch.Tensor, groups: int, nhwc: bool) -> torch.Tensor:
    """grad_output (N, O, OH, OW) as (G, M, Og) for NHWC or (G, Og, M) for NCHW."""
    n, o, out_h, out_w = grad_out.shape
    per_group = grad_out.view(n, groups, o // groups, out_h, out_w)
    if nhwc:
        return per_group.permute(1, 0, 3, 4, 2).reshape(groups, n * out_h * out_w, -1)
    return per_group.permute(1, 2, 0, 3, 4).reshape(groups, o // groups, -1)


def _conv_core(
    xp: torch.Tensor, weight: torch.Tensor, stride: Pair, dilation: Pair, groups: int
) -> torch.Tensor:
    """Convolve an already padded (N, C, H, W) input; no bias, no autograd bookkeeping.

    The output keeps the input's memory format.
    """
    n, nhwc = xp.shape[0], is_channels_last(xp)
    o, _, kh, kw = weight.shape
    out_h = windowed_size(xp.shape[2], kh, stride[0], dilation[0])
    out_w = windowed_size(xp.shape[3], kw, stride[1], dilation[1])
    cols = _columns(xp, (kh, kw), stride, dilation, groups)
    w = _weight_matrix(weight, groups, nhwc)
    if nhwc:
        out = torch.bmm(cols, w.transpose(1, 2))  # G, M, Og
        out = out.view(groups, n, out_h, out_w, o // groups).permute(1, 0, 4, 2, 3)
        return out.reshape(n, o, out_h, out_w).contiguous(memory_format=torch.channels_last)
    out = torch.bmm(w, cols).view(o, n, out_h, out_w)  # G*Og, N, OH, OW
    return out.transpose(0, 1).contiguous()


def _grad_input(
    grad_out: torch.Tensor,
    weight: torch.Tensor,
    padded_shape: torch.Size,
    stride: Pair,
    dilation: Pair,
    groups: int,
) -> torch.Tensor:
    """Gradient w.r.t. the padded input."""
    o, cg, kh, kw = weight.shape
    og = o // groups
    if stride == (1, 1):
        reach_h, reach_w = dilation[0] * (kh - 1), dilation[1] * (kw - 1)
        padded_grad = pad2d(grad_out, (reach_h, reach_h, reach_w, reach_w))
        flipped = weight.view(groups, og, cg, kh, kw).transpose(1, 2).flip(-2, -1)
        flipped = flipped.reshape(groups * cg, og, kh, kw)
        return _conv_core(padded_grad, flipped, (1, 1), dilation, groups)
    n, _, out_h, out_w = grad_out.shape
    nhwc = is_channels_last(grad_out)
    rows = _grad_output_matrix(grad_out, groups, nhwc)
    w = _weight_matrix(weight, groups, nhwc)
    if nhwc:
        cols = torch.bmm(rows, w).view(groups, n, out_h, out_w, kh, kw, cg)
        values = cols.permute(1, 0, 6, 2, 3, 4, 5).flatten(1, 2)  # N, C, OH, OW, kh, kw
        grad_xp = torch.empty(
            padded_shape,
            dtype=grad_out.dtype,
            device=grad_out.device,
            memory_format=torch.channels_last,
        ).zero_()
    else:
        cols = torch.bmm(w.transpose(1, 2), rows).view(groups * cg, kh, kw, n, out_h, out_w)
        values = cols.permute(3, 0, 4, 5, 1, 2)  # N, C, OH, OW, kh, kw
        grad_xp = grad_out.new_zeros(padded_shape)
    return scatter_windows_(grad_xp, values, (kh, kw), stride, dilation)


class _Conv2dFunction(torch.autograd.Function):
    """Autograd wrapper whose forward and backward are both built on `window_view`."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):  # noqa: D102
        xp = pad2d(x, padding)
        out = _conv_core(xp, weight, stride, dilation, groups)
        if bias is not None:
            out.add_(bias.view(1, -1, 1, 1))  # `out` is fresh: nothing else holds it
        ctx.save_for_backward(x, weight)
        ctx.conf = (stride, padding, dilation, groups, bias is not None)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):  # noqa: D102
        x, weight = ctx.saved_tensors
        stride, padding, dilation, groups, has_bias = ctx.conf
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        grad_x = grad_w = grad_b = None
        layout = torch.channels_last if is_channels_last(x) else torch.contiguous_format
        grad_out = grad_out.contiguous(memory_format=layout)
        if need_x:
            top, bottom, left, right = padding
            height, width = x.shape[2] + top + bottom, x.shape[3] + left + right
            padded_shape = torch.Size((x.shape[0], x.shape[1], height, width))
            grad_xp = _grad_input(grad_out, weight, padded_shape, stride, dilation, groups)
            grad_x = grad_xp[:, :, top : top + x.shape[2], left : left + x.shape[3]]
        if need_w:
            nhwc = is_channels_last(x)
            cols = _columns(pad2d(x, padding), tuple(weight.shape[2:]), stride, dilation, groups)
            rows = _grad_output_matrix(grad_out, groups, nhwc)
            if nhwc:  # (G, Og, K) with K = (kh, kw, Cg) back to (O, Cg, kh, kw)
                o, cg, kh, kw = weight.shape
                grad_w = torch.bmm(rows.transpose(1, 2), cols).view(groups, o // groups, kh, kw, cg)
                grad_w = grad_w.permute(0, 1, 4, 2, 3).reshape(weight.shape)
            else:
                grad_w = torch.bmm(rows, cols.transpose(1, 2)).view_as(weight)
        if has_bias and need_b:
            grad_b = grad_out.sum(dim=(0, 2, 3))
        return grad_x, grad_w, grad_b, None, None, None, None


def _conv_padding(padding, kernel: Pair, stride: Pair, dilation: Pair) -> Padding4:
    """Resolve int / pair / 'valid' / 'same' to (top, bottom, left, right), as torch does."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise OpError(f"{OP}: padding='same' needs stride 1, got stride {stride}")
            total = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
            # Like torch: odd totals put the extra row/column at the bottom/right.
            return (
                total[0] // 2,
                total[0] - total[0] // 2,
                total[1] // 2,
                total[1] - total[1] // 2,
            )
        raise OpError(f"{OP}: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
    ph, pw = as_pair(OP, "padding", padding, minimum=0)
    return (ph, ph, pw, pw)


def _check_weights(x: torch.Tensor, weight: torch.Tensor, bias, groups: int) -> None:
    if not isinstance(weight, torch.Tensor) or weight.dim() != 4:
        shape = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
        raise OpError(
            f"{OP}: weight must be 4-D (out_channels, in_channels/groups, kh, kw), got {shape}"
        )
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise OpError(f"{OP}: groups must be a positive int, got {groups!r}")
    channels, out_channels = x.shape[1], weight.shape[0]
    if channels % groups:
        raise OpError(f"{OP}: input channels {channels} are not divisible by groups={groups}")
    if out_channels % groups:
        raise OpError(f"{OP}: out_channels {out_channels} are not divisible by groups={groups}")
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
    pad = _conv_padding(padding, kernel, stride_, dilation_)
    padded = (x.shape[2] + pad[0] + pad[1], x.shape[3] + pad[2] + pad[3])
    check_window_fits(OP, padded, kernel, dilation_, padding=(pad[0], pad[2]))
    with autocast_off:
        out = _Conv2dFunction.apply(x, weight, bias, stride_, pad, dilation_, groups)
    return out.squeeze(0) if unbatched else out
