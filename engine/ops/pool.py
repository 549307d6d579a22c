"""Hand-written max and average pooling with torch's names, arguments and output sizes.

Both gather windows with `window_view` and reduce over the window dimensions; neither calls
torch's pooling. Backward passes are written by hand: max pooling scatters the gradient to
the argmax of each window, average pooling spreads it evenly back through the windows.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from engine.errors import OpError
from engine.ops._args import IntOrPair, as_batched, as_pair
from engine.ops.window import Padding4, Pair, pad2d, scatter_windows_, window_view


def pooled_size(
    size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool
) -> int:
    """Output length along one axis, exactly as torch's pooling computes it.

    In ceil mode the last window may hang over the end, but it must start inside the input
    or the left padding, so a window made only of right padding is dropped.
    """
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if span < 0:
        return 0
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


class _PoolGeometry:
    """Validated arguments plus the output size and the padding the windows need."""

    def __init__(self, op, x, kernel_size, stride, padding, dilation, ceil_mode) -> None:
        if not x.is_floating_point():
            raise OpError(f"{op}: input must be a floating-point tensor, got {x.dtype}")
        self.kernel = as_pair(op, "kernel_size", kernel_size, minimum=1)
        no_stride = stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0)
        self.stride = self.kernel if no_stride else as_pair(op, "stride", stride, minimum=1)
        self.padding = as_pair(op, "padding", padding, minimum=0)
        self.dilation = as_pair(op, "dilation", dilation, minimum=1)
        k, p = self.kernel, self.padding
        if p[0] > k[0] // 2 or p[1] > k[1] // 2:
            raise OpError(
                f"{op}: padding {p} must be at most half the kernel size {k} "
                "(otherwise a window could see nothing but padding)"
            )
        height, width = x.shape[2], x.shape[3]
        self.out_size: Pair = tuple(
            pooled_size(n, k[a], self.stride[a], p[a], self.dilation[a], ceil_mode)
            for a, n in enumerate((height, width))
        )
        if min(self.out_size) < 1:
            raise OpError(
                f"{op}: kernel {k[0]}x{k[1]} (dilation {self.dilation}) is larger than the "
                f"input {height}x{width} after padding {p}"
            )
        for axis, size in enumerate((height, width)):
            if self._padding_only_window(axis, size):
                raise OpError(
                    f"{op}: with kernel {k}, dilation {self.dilation} and padding {p}, some "
                    f"window on the {height}x{width} input sees nothing but padding"
                )
        # Ceil mode may need extra room on the bottom/right for the last window.
        need = [
            (o - 1) * s + d * (kk - 1) + 1
            for o, s, d, kk in zip(
                self.out_size, self.stride, self.dilation, self.kernel, strict=True
            )
        ]
        bottom = max(p[0], need[0] - height - p[0])
        right = max(p[1], need[1] - width - p[1])
        self.pad4: Padding4 = (p[0], bottom, p[1], right)

    def _padding_only_window(self, axis: int, size: int) -> bool:
        """True when a dilated window's taps all miss the real input (torch returns -inf)."""
        starts = torch.arange(self.out_size[axis]) * self.stride[axis] - self.padding[axis]
        taps = starts.view(-1, 1) + torch.arange(self.kernel[axis]) * self.dilation[axis]
        inside = (taps >= 0) & (taps < size)
        return not bool(inside.any(dim=1).all())

    def windows(self, xp: torch.Tensor) -> torch.Tensor:
        """(N, C, OH, OW, kh, kw) windows of the padded input, trimmed to the output size."""
        win = window_view(xp, self.kernel, self.stride, self.dilation)
        return win[:, :, : self.out_size[0], : self.out_size[1]]


def _crop(grad_xp: torch.Tensor, pad4: Padding4, height: int, width: int) -> torch.Tensor:
    top, _, left, _ = pad4
    return grad_xp[:, :, top : top + height, left : left + width]


class _MaxPool2dFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, geometry: _PoolGeometry):  # noqa: D102
        xp = pad2d(x, geometry.pad4, float("-inf"))
        windows = geometry.windows(xp)
        n, c, out_h, out_w, kh, kw = windows.shape
        values, arg = windows.reshape(n, c, out_h, out_w, kh * kw).max(dim=-1)
        # Flat index into the padded input of each window's maximum: where the window
        # starts plus where in the window the maximum sits (a table lookup per output).
        (sh, sw), (dh, dw), width = geometry.stride, geometry.dilation, xp.shape[3]
        rows, cols = torch.arange(kh, device=x.device), torch.arange(kw, device=x.device)
        offsets = (rows.view(-1, 1) * (dh * width) + cols * dw).view(-1)
        rows, cols = torch.arange(out_h, device=x.device), torch.arange(out_w, device=x.device)
        starts = rows.view(-1, 1) * (sh * width) + cols * sw
        ctx.save_for_backward(offsets[arg].add_(starts))
        ctx.geometry, ctx.in_shape, ctx.padded_shape = geometry, x.shape, xp.shape
        return values

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):  # noqa: D102
        (index,) = ctx.saved_tensors
        n, c, height, width = ctx.in_shape
        grad_xp = grad_out.new_zeros((n, c, ctx.padded_shape[2] * ctx.padded_shape[3]))
        grad_xp.scatter_add_(2, index.reshape(n, c, -1), grad_out.reshape(n, c, -1))
        grad_xp = grad_xp.view(ctx.padded_shape)
        return _crop(grad_xp, ctx.geometry.pad4, height, width), None


def _avg_divisor(geometry: _PoolGeometry, height: int, width: int, include_pad: bool, like):
    """(OH, OW) window sizes torch divides by: padding counts, ceil-mode overhang never does."""
    per_axis = []
    for out, size, k, s, p in zip(
        geometry.out_size,
        (height, width),
        geometry.kernel,
        geometry.stride,
        geometry.padding,
        strict=True,
    ):
        start = torch.arange(out, device=like.device) * s - p
        end = torch.clamp(start + k, max=size + p)
        if not include_pad:
            start, end = torch.clamp(start, min=0), torch.clamp(end, max=size)
        per_axis.append((end - start).to(like.dtype))
    return per_axis[0].view(-1, 1) * per_axis[1].view(1, -1)


class _AvgPool2dFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, geometry: _PoolGeometry, count_include_pad: bool):  # noqa: D102
        xp = pad2d(x, geometry.pad4, 0.0)
        divisor = _avg_divisor(geometry, x.shape[2], x.shape[3], count_include_pad, x)
        ctx.save_for_backward(divisor)
        ctx.geometry, ctx.in_shape, ctx.padded_shape = geometry, x.shape, xp.shape
        # One add per kernel offset over strided views: no window is ever copied out.
        windows = geometry.windows(xp)
        kh, kw = geometry.kernel
        total = windows[..., 0, 0].clone()
        for tap in range(1, kh * kw):
            total.add_(windows[..., tap // kw, tap % kw])
        return total.div_(divisor)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):  # noqa: D102
        (divisor,) = ctx.saved_tensors
        geometry = ctx.geometry
        share = (grad_out / divisor)[..., None, None].expand(*grad_out.shape, *geometry.kernel)
        grad_xp = grad_out.new_zeros(ctx.padded_shape)
        scatter_windows_(grad_xp, share, geometry.kernel, geometry.stride, geometry.dilation)
        return _crop(grad_xp, geometry.pad4, ctx.in_shape[2], ctx.in_shape[3]), None, None


def max_pool2d(
    input: torch.Tensor,
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    ceil_mode: bool = False,
) -> torch.Tensor:
    """Max pooling with the semantics of `torch.nn.functional.max_pool2d` (padding is -inf)."""
    x, unbatched = as_batched("max_pool2d", input)
    geometry = _PoolGeometry("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
    out = _MaxPool2dFunction.apply(x, geometry)
    return out.squeeze(0) if unbatched else out


def avg_pool2d(
    input: torch.Tensor,
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> torch.Tensor:
    """Average pooling with the semantics of `torch.nn.functional.avg_pool2d`."""
    x, unbatched = as_batched("avg_pool2d", input)
    geometry = _PoolGeometry("avg_pool2d", x, kernel_size, stride, padding, 1, ceil_mode)
    out = _AvgPool2dFunction.apply(x, geometry, count_include_pad)
    return out.squeeze(0) if unbatched else out
