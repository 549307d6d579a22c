"""The general convolution kernel: im2col columns and one matrix multiply, chunk by chunk.

Any kernel size, stride, dilation, padding and group count. The batch is processed a few
samples at a time (`_chunks`): the columns of one chunk stay in cache, so the expansion
costs a cache-speed copy instead of a DRAM round trip, and the same buffers serve every
chunk. Backward recomputes the columns per chunk rather than saving kh*kw copies of the
input.

Columns follow the input's memory so the gather reads long runs: NCHW gathers (G, K, M)
with K = (Cg, kh, kw) and M = (m, OH, OW); channels-last gathers (G, M, K) with
K = (kh, kw, Cg), channels innermost. The output keeps the input's memory format.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.ops._chunks import PaddedChunks, chunk_ranges, chunk_size
from engine.ops.window import Padding4, Pair, is_channels_last, window_view, windowed_size


@dataclass(frozen=True)
class ConvGeometry:
    """Validated convolution arguments plus the sizes every kernel needs."""

    stride: Pair
    padding: Padding4  # (top, bottom, left, right)
    dilation: Pair
    groups: int

    def output_size(self, x: torch.Tensor, weight: torch.Tensor) -> Pair:
        top, bottom, left, right = self.padding
        return (
            windowed_size(x.shape[2] + top + bottom, weight.shape[2], self.stride[0],
                          self.dilation[0]),
            windowed_size(x.shape[3] + left + right, weight.shape[3], self.stride[1],
                          self.dilation[1]),
        )  # fmt: skip


def _empty_like_layout(like: torch.Tensor, shape, nhwc: bool) -> torch.Tensor:
    layout = torch.channels_last if nhwc else torch.contiguous_format
    return torch.empty(shape, dtype=like.dtype, device=like.device, memory_format=layout)


def _chunk_of(x: torch.Tensor, weight: torch.Tensor, out_hw: Pair, groups: int) -> int:
    """Samples per chunk: columns plus the output (or gradient) matrix of one chunk."""
    o, cg, kh, kw = weight.shape
    per_sample = (cg * groups * kh * kw + o) * out_hw[0] * out_hw[1] * x.element_size()
    return chunk_size(x.shape[0], per_sample, x.device)


def _gather(xp: torch.Tensor, kernel: Pair, geo: ConvGeometry, out: torch.Tensor, nhwc: bool):
    """Copy the windows of the padded chunk `xp` into the column buffer `out`."""
    windows = window_view(xp, kernel, geo.stride, geo.dilation)  # m, C, OH, OW, kh, kw
    grouped = windows.unflatten(1, (geo.groups, -1))  # m, G, Cg, OH, OW, kh, kw
    # channels-last: (G, m, OH, OW, kh, kw, Cg); NCHW: (G, Cg, kh, kw, m, OH, OW)
    dims = (1, 0, 3, 4, 5, 6, 2) if nhwc else (1, 2, 5, 6, 0, 3, 4)
    order = grouped.permute(*dims)
    out.view(order.shape).copy_(order)
    return out


def _weight_matrix(weight: torch.Tensor, groups: int, nhwc: bool) -> torch.Tensor:
    """weight (O, Cg, kh, kw) as (G, Og, K), K in the columns' order."""
    o, cg, kh, kw = weight.shape
    w = weight.view(groups, o // groups, cg, kh, kw)
    return (w.permute(0, 1, 3, 4, 2) if nhwc else w).reshape(groups, o // groups, -1)


def forward(x: torch.Tensor, weight: torch.Tensor, bias, geo: ConvGeometry) -> torch.Tensor:
    """Convolution of an unpadded (N, C, H, W) input; no autograd bookkeeping."""
    n, nhwc = x.shape[0], is_channels_last(x)
    o, _, kh, kw = weight.shape
    g, og = geo.groups, o // geo.groups
    out_h, out_w = geo.output_size(x, weight)
    pixels = out_h * out_w
    step = _chunk_of(x, weight, (out_h, out_w), g)
    padded = PaddedChunks(x, step, geo.padding, channels_last=nhwc)
    k = weight[0].numel()
    cols = x.new_empty((g, step * pixels, k) if nhwc else (g, k, step * pixels))
    w = _weight_matrix(weight, g, nhwc)
    out = _empty_like_layout(x, (n, o, out_h, out_w), nhwc)
    result = x.new_empty((g, step * pixels, og) if nhwc else (g, og, step * pixels))
    for start, stop in chunk_ranges(n, step):
        m = (stop - start) * pixels
        c = cols[:, :m] if nhwc else cols[:, :, :m]
        _gather(padded.fill(x[start:stop]), (kh, kw), geo, c, nhwc)
        if nhwc:  # rows of the channels-last output are (m, OH, OW), channels innermost
            rows = out[start:stop].permute(0, 2, 3, 1).reshape(m, o)
            if g == 1:
                torch.mm(c[0], w[0].t(), out=rows)
            else:
                r = torch.bmm(c, w.transpose(1, 2), out=result[:, :m])
                rows.view(m, g, og).copy_(r.transpose(0, 1))
            if bias is not None:
                rows.add_(bias)
        else:
            r = result[:, :, :m]
            if bias is not None:
                torch.baddbmm(bias.view(g, og, 1), w, c, out=r)
            else:
                torch.bmm(w, c, out=r)
            out[start:stop].copy_(r.view(o, stop - start, out_h, out_w).transpose(0, 1))
    return out


def _col2im_(target: torch.Tensor, values: torch.Tensor, kernel: Pair, geo: ConvGeometry):
    """Add (m, C, OH, OW, kh, kw) window values back into `target` (m, C, Hp, Wp)."""
    windows = window_view(target, kernel, geo.stride, geo.dilation)
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            windows[:, :, :, :, i, j].add_(values[:, :, :, :, i, j])


def backward(
    grad_out: torch.Tensor,
    x: torch.Tensor,
    weight: torch.Tensor,
    geo: ConvGeometry,
    need_x: bool,
    need_w: bool,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(grad_input, grad_weight) chunk by chunk; `grad_out` in the input's memory format.

    grad_weight = grad_output @ columsᵀ, with the columns re-gathered per chunk from the
    saved input; grad_input = columns of Wᵀ @ grad_output, added back into the windows.
    """
    n, nhwc = x.shape[0], is_channels_last(x)
    o, cg, kh, kw = weight.shape
    g, og = geo.groups, o // geo.groups
    _, _, out_h, out_w = grad_out.shape
    pixels = out_h * out_w
    step = _chunk_of(x, weight, (out_h, out_w), g)
    k = weight[0].numel()
    cols = x.new_empty((g, step * pixels, k) if nhwc else (g, k, step * pixels))
    gbuf = None if nhwc else x.new_empty((g, og, step * pixels))
    w = _weight_matrix(weight, g, nhwc)
    grad_w = weight.new_zeros((g, og, k)) if need_w else None
    grad_x = _empty_like_layout(x, x.shape, nhwc) if need_x else None
    padded = PaddedChunks(x, step, geo.padding, channels_last=nhwc) if need_w else None
    # grad_input lands in a zeroed padded scratch chunk, then the interior is copied out.
    top, bottom, left, right = geo.padding
    scratch_shape = (step, x.shape[1], x.shape[2] + top + bottom, x.shape[3] + left + right)
    scratch = _empty_like_layout(x, scratch_shape, nhwc) if need_x else None
    for start, stop in chunk_ranges(n, step):
        batch, m = stop - start, (stop - start) * pixels
        c = cols[:, :m] if nhwc else cols[:, :, :m]
        if nhwc:  # (G, Og, m) view of the channels-last gradient rows: no copy
            rows = grad_out[start:stop].permute(0, 2, 3, 1).reshape(m, g, og)
            grads = rows.permute(1, 2, 0)
        else:
            grads = gbuf[:, :, :m]
            grads.view(o, batch, out_h, out_w).copy_(grad_out[start:stop].transpose(0, 1))
        if need_w:
            _gather(padded.fill(x[start:stop]), (kh, kw), geo, c, nhwc)
            grad_w.baddbmm_(grads, c if nhwc else c.transpose(1, 2))
        if need_x:
            if nhwc:  # (G, M, K) = (G, M, Og) @ (G, Og, K); K = (kh, kw, Cg)
                torch.bmm(grads.transpose(1, 2), w, out=c)
                values = c.view(g, batch, out_h, out_w, kh, kw, cg).permute(1, 0, 6, 2, 3, 4, 5)
            else:  # (G, K, M) = (G, K, Og) @ (G, Og, M); K = (Cg, kh, kw)
                torch.bmm(w.transpose(1, 2), grads, out=c)
                values = c.view(g, cg, kh, kw, batch, out_h, out_w).permute(4, 0, 1, 5, 6, 2, 3)
            target = scratch[:batch].zero_()
            _col2im_(target, values.flatten(1, 2), (kh, kw), geo)
            height, width = x.shape[2], x.shape[3]
            grad_x[start:stop].copy_(target[:, :, top : top + height, left : left + width])
    if grad_w is not None:
        o_w = grad_w.view(g, og, kh, kw, cg).permute(0, 1, 4, 2, 3) if nhwc else grad_w
        grad_w = o_w.reshape(weight.shape)
    return grad_x, grad_w
