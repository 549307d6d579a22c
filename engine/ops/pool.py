"""Hand-written max and average pooling (and max unpooling) with torch's full signatures.

All three see the input through the window primitive (`engine.ops.window`); none calls
torch's pooling. Backward passes are written by hand: max pooling scatters the gradient to
the argmax of each window, average pooling spreads it evenly back through the windows,
max unpooling gathers it back from where it scattered.

Max pooling is separable, and computed that way: a running maximum over the kw column
taps of every row, then over the kh row taps of those row maxima, each tap one strided
view (no window is ever copied out). Keeping the first strict maximum at both stages picks
the first maximum in row-major window order, which is the cell torch's kernel picks, so
the indices (`return_indices=True`) equal torch's, ties included. With several CPU
threads each takes a slice of the batch (`_parallel`), as the convolution does.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.autograd.function import once_differentiable

from engine.errors import OpError
from engine.ops._args import IntOrPair, as_batched, as_pair
from engine.ops._parallel import over_batch
from engine.ops.arithmetic import output_size
from engine.ops.window import Padding4, Pair, pad2d, scatter_windows_, window_view


def _stride_or_kernel(op: str, stride, kernel: Pair) -> Pair:
    """torch's rule: stride None (or an empty sequence) means 'the kernel size'."""
    if stride is None or (isinstance(stride, Sequence) and len(stride) == 0):
        return kernel
    return as_pair(op, "stride", stride, minimum=1)


class _PoolGeometry:
    """Validated arguments plus the output size and the padding the windows need."""

    def __init__(self, op, x, kernel_size, stride, padding, dilation, ceil_mode) -> None:
        if not x.is_floating_point():
            raise OpError(f"{op}: input must be a floating-point tensor, got {x.dtype}")
        self.kernel = as_pair(op, "kernel_size", kernel_size, minimum=1)
        self.stride = _stride_or_kernel(op, stride, self.kernel)
        self.padding = as_pair(op, "padding", padding, minimum=0)
        self.dilation = as_pair(op, "dilation", dilation, minimum=1)
        k, p = self.kernel, self.padding
        if p[0] > k[0] // 2 or p[1] > k[1] // 2:
            raise OpError(
                f"{op}: padding {p} must be at most half the kernel size {k} "
                "(otherwise a window could see nothing but padding)"
            )
        height, width = x.shape[2], x.shape[3]
        self.in_size: Pair = (height, width)
        self.out_size: Pair = tuple(
            output_size(n, k[a], self.stride[a], p[a], self.dilation[a], ceil_mode)
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


def _running_max(taps: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Elementwise max over `taps` and which tap won (uint8), by torch's rule: a later tap
    wins when strictly larger or NaN, so ties keep the first maximum.

    The winner is the highest t whose tap beat the running maximum, so it is the maximum of
    t * beat_t: uint8 arithmetic, no masked writes."""
    if len(taps) == 1:
        return taps[0].clone(), torch.zeros(taps[0].shape, dtype=torch.uint8,
                                            device=taps[0].device)  # fmt: skip
    best = torch.maximum(taps[0], taps[1])  # NaN propagates, as in torch
    arg = (taps[1] > taps[0]).logical_or_(taps[1].isnan()).view(torch.uint8)
    for t in range(2, len(taps)):
        beat = (taps[t] > best).logical_or_(taps[t].isnan())
        arg = torch.maximum(arg, beat.view(torch.uint8).mul_(t))
        torch.maximum(best, taps[t], out=best)
    return best, arg


def _strided_taps(x: torch.Tensor, dim: int, out: int, kernel: int, stride: int, dilation: int):
    """The `kernel` taps of a 1-D window along `dim`, as views: tap t holds
    x[o*stride + t*dilation] for o < out."""
    span = (out - 1) * stride + 1
    lead = (slice(None),) * dim
    return [x[(*lead, slice(t * dilation, t * dilation + span, stride))] for t in range(kernel)]


def _max_with_indices(x: torch.Tensor, geometry: _PoolGeometry):
    """(values, flat indices into each unpadded H*W plane), as torch's max_pool2d_with_indices."""
    xp = pad2d(x, geometry.pad4, float("-inf"))
    (kh, kw), (sh, sw), (dh, dw) = geometry.kernel, geometry.stride, geometry.dilation
    out_h, out_w = geometry.out_size
    rows = xp[:, :, : (out_h - 1) * sh + dh * (kh - 1) + 1]
    # Stage 1: each row's maximum over the kw column taps, and which tap won.
    row_max, col_arg = _running_max(_strided_taps(rows, 3, out_w, kw, sw, dw))
    # Stage 2: the maximum over the kh row taps of those row maxima.
    values, row_arg = _running_max(_strided_taps(row_max, 2, out_h, kh, sh, dh))
    # The winning row (padded coordinates), then that row's winning column.
    first_rows = (torch.arange(out_h, device=x.device) * sh).view(-1, 1)
    row = row_arg.to(torch.int64).mul_(dh).add_(first_rows)
    col_tap = torch.gather(col_arg, 2, row)  # uint8: no second int64 temporary
    top, _, left, _ = geometry.pad4
    width = geometry.in_size[1]
    index = row.sub_(top).mul_(width).add_(col_tap, alpha=dw)
    index.add_(torch.arange(out_w, device=x.device) * sw - left)
    return values, index


class _MaxPool2dFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, geometry: _PoolGeometry):  # noqa: D102
        parts = over_batch(x.shape[0], x.device,
                           lambda a, b: _max_with_indices(x[a:b], geometry))  # fmt: skip
        if len(parts) == 1:
            values, index = parts[0]
        else:
            values, index = (torch.cat(pieces) for pieces in zip(*parts, strict=True))
        ctx.save_for_backward(index)
        ctx.in_shape = x.shape
        ctx.mark_non_differentiable(index)
        return values, index

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out, _grad_index):  # noqa: D102
        (index,) = ctx.saved_tensors
        n, c, height, width = ctx.in_shape
        grad_x = grad_out.new_empty((n, c, height * width))

        def part(a: int, b: int) -> None:
            rows = grad_x[a:b].zero_()
            rows.scatter_add_(
                2, index[a:b].reshape(b - a, c, -1), grad_out[a:b].reshape(b - a, c, -1)
            )

        over_batch(n, grad_out.device, part)
        return grad_x.view(ctx.in_shape), None


def _avg_divisor(geometry: _PoolGeometry, include_pad: bool, override: int | None, like):
    """(OH, OW) window sizes torch divides by: padding counts, ceil-mode overhang never does;
    `divisor_override` replaces them all."""
    if override is not None:
        return torch.full(geometry.out_size, float(override), dtype=like.dtype, device=like.device)
    per_axis = []
    for out, size, k, s, p in zip(
        geometry.out_size,
        geometry.in_size,
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


def _crop(grad_xp: torch.Tensor, pad4: Padding4, height: int, width: int) -> torch.Tensor:
    top, _, left, _ = pad4
    return grad_xp[:, :, top : top + height, left : left + width]


class _AvgPool2dFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, geometry: _PoolGeometry, divisor: torch.Tensor):  # noqa: D102
        ctx.save_for_backward(divisor)
        top, bottom, left, right = geometry.pad4
        ctx.geometry, ctx.in_shape = geometry, x.shape
        ctx.padded_shape = (*x.shape[:2], x.shape[2] + top + bottom, x.shape[3] + left + right)
        parts = over_batch(x.shape[0], x.device, lambda a, b: _window_sums(x[a:b], geometry))
        total = parts[0] if len(parts) == 1 else torch.cat(parts)
        return total.div_(divisor)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):  # noqa: D102
        (divisor,) = ctx.saved_tensors
        geometry = ctx.geometry
        grad_xp = grad_out.new_empty(ctx.padded_shape)

        def part(a: int, b: int) -> None:
            share = (grad_out[a:b] / divisor)[..., None, None]
            share = share.expand(*share.shape[:4], *geometry.kernel)
            scatter_windows_(grad_xp[a:b].zero_(), share, geometry.kernel, geometry.stride,
                             geometry.dilation)  # fmt: skip

        over_batch(grad_out.shape[0], grad_out.device, part)
        return _crop(grad_xp, geometry.pad4, ctx.in_shape[2], ctx.in_shape[3]), None, None


def _window_sums(x: torch.Tensor, geometry: _PoolGeometry) -> torch.Tensor:
    """Each window's sum: one add per kernel offset over strided views of the padded input,
    no window ever copied out."""
    windows = geometry.windows(pad2d(x, geometry.pad4, 0.0))
    kh, kw = geometry.kernel
    total = windows[..., 0, 0].clone()
    for tap in range(1, kh * kw):
        total.add_(windows[..., tap // kw, tap % kw])
    return total


class _MaxUnpool2dFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, flat_index, size: Pair):  # noqa: D102
        n, c = x.shape[:2]
        ctx.save_for_backward(flat_index)
        ctx.in_shape = x.shape
        out = x.new_zeros((n, c, size[0] * size[1]))
        out.scatter_(2, flat_index, x.reshape(n, c, -1))
        return out.view(n, c, *size)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):  # noqa: D102
        (flat_index,) = ctx.saved_tensors
        n, c = grad_out.shape[:2]
        grad_x = grad_out.reshape(n, c, -1).gather(2, flat_index)
        return grad_x.view(ctx.in_shape), None, None


def max_pool2d(
    input: torch.Tensor,
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """Max pooling with the semantics of `torch.nn.functional.max_pool2d` (padding is -inf).

    With `return_indices=True` also returns, like torch, each maximum's flat index into its
    (unpadded) H*W input plane, int64 — what `max_unpool2d` takes."""
    x, unbatched = as_batched("max_pool2d", input)
    geometry = _PoolGeometry("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
    out, index = _MaxPool2dFunction.apply(x, geometry)
    if unbatched:
        out, index = out.squeeze(0), index.squeeze(0)
    return (out, index) if return_indices else out


def avg_pool2d(
    input: torch.Tensor,
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> torch.Tensor:
    """Average pooling with the semantics of `torch.nn.functional.avg_pool2d`.

    `divisor_override` divides every window's sum by that number instead of its size."""
    x, unbatched = as_batched("avg_pool2d", input)
    geometry = _PoolGeometry("avg_pool2d", x, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and (
        isinstance(divisor_override, bool)
        or not isinstance(divisor_override, int)
        or divisor_override == 0
    ):
        raise OpError(
            f"avg_pool2d: divisor_override must be a non-zero int, got {divisor_override!r}"
        )
    divisor = _avg_divisor(geometry, count_include_pad, divisor_override, x)
    out = _AvgPool2dFunction.apply(x, geometry, divisor)
    return out.squeeze(0) if unbatched else out


def _unpool_size(x: torch.Tensor, kernel: Pair, stride: Pair, padding: Pair, output_size) -> Pair:
    """torch's output size for max_unpool2d: the pooling's input size, or `output_size`
    when it is one of the sizes that pool to this input (default ± less than a stride)."""
    default = [(x.shape[2 + d] - 1) * stride[d] + kernel[d] - 2 * padding[d] for d in range(2)]
    if output_size is None:
        size = default
    else:
        size = [int(s) for s in output_size]
        size = size[2:] if len(size) == 4 else size
        if len(size) != 2:
            raise OpError(
                f"max_unpool2d: output_size must hold 2 or 4 numbers, got {tuple(output_size)}"
            )
        for d in range(2):
            low, high = default[d] - stride[d], default[d] + stride[d]
            if not low < size[d] < high:
                raise OpError(
                    f"max_unpool2d: output_size {tuple(size)} is not one max_pool2d could "
                    f"have pooled from (dim {d} must be between {low} and {high}, exclusive)"
                )
    if min(size) < 1:
        raise OpError(f"max_unpool2d: the output size {tuple(size)} is empty")
    return (size[0], size[1])


def max_unpool2d(
    input: torch.Tensor,
    indices: torch.Tensor,
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
    output_size: Sequence[int] | None = None,
) -> torch.Tensor:
    """The partial inverse of `max_pool2d`, as `torch.nn.functional.max_unpool2d`: every value
    goes back to the place its index names, every other output is zero."""
    op = "max_unpool2d"
    x, unbatched = as_batched(op, input)
    if not isinstance(indices, torch.Tensor) or indices.dtype != torch.int64:
        got = indices.dtype if isinstance(indices, torch.Tensor) else type(indices).__name__
        raise OpError(f"{op}: indices must be an int64 tensor (max_pool2d's), got {got}")
    index = indices.unsqueeze(0) if unbatched else indices
    if index.shape != x.shape:
        raise OpError(
            f"{op}: indices {tuple(indices.shape)} must have the input's shape {tuple(input.shape)}"
        )
    kernel = as_pair(op, "kernel_size", kernel_size, minimum=1)
    size = _unpool_size(
        x, kernel, _stride_or_kernel(op, stride, kernel), as_pair(op, "padding", padding,
        minimum=0), output_size,
    )  # fmt: skip
    flat_index = index.reshape(x.shape[0], x.shape[1], -1)
    if flat_index.numel() and (flat_index.min() < 0 or flat_index.max() >= size[0] * size[1]):
        raise OpError(
            f"{op}: an index lies outside the {size[0]}x{size[1]} output "
            f"(indices run from {int(flat_index.min())} to {int(flat_index.max())})"
        )
    out = _MaxUnpool2dFunction.apply(x, flat_index, size)
    return out.squeeze(0) if unbatched else out
