"""The convolution kernel: im2col columns and one matrix multiply, chunk by chunk.

Any kernel size, stride, dilation, padding and group count. The batch goes through in
chunks sized by `_chunks` (cache-sized with one thread, few and large with several), into
scratch buffers reused across chunks and calls. Backward re-gathers the columns per chunk
instead of saving kh*kw copies of the input.

* forward (NCHW): per-sample columns (m*G, Kg, L) and a batched multiply that writes the
  NCHW output in place (no transposes); channels-last: rows (G, M, Kg), channels innermost,
  multiplied straight into the channels-last output.
* grad_weight: the chunk as one matrix (G, Kg, M) @ (G, M, Og), M = (m, OH, OW); one long
  inner dimension beats per-sample products.
* grad_input: stride 1 with C_out ≤ C_in, the convolution of grad_output with the flipped
  kernel (this same forward); otherwise per-sample columns Wᵀ @ grad_output added back
  into the windows (col2im: kh*kw strided adds, or one `fold` call when few big ops pay).

Kg = (Cg, kh, kw) for NCHW and (kh, kw, Cg) for channels-last; L = (OH, OW).
The output keeps the input's memory format.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.ops._chunks import Scratch, chunk_ranges, chunk_size, few_big_ops
from engine.ops.window import (
    PaddedChunks,
    Padding4,
    Pair,
    is_channels_last,
    output_size,
    scatter_windows_,
    window_view,
)


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
            output_size(x.shape[2], weight.shape[2], self.stride[0], (top, bottom),
                        self.dilation[0]),
            output_size(x.shape[3], weight.shape[3], self.stride[1], (left, right),
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


def _gather(xp: torch.Tensor, kernel: Pair, geo: ConvGeometry, out: torch.Tensor, layout: str):
    """Copy the windows of the padded chunk `xp` into the column buffer `out`.

    "samples": (m*G, Kg, L), one matrix per sample and group (the forward writes the NCHW
    output straight from it); "merged": (G, Kg, m*L), the chunk as one matrix (backward);
    "rows" (channels-last): (G, M, Kg) with Kg = (kh, kw, Cg), channels innermost.
    Kg = (Cg, kh, kw) otherwise; L = (OH, OW); M = (m, OH, OW).
    """
    windows = window_view(xp, kernel, geo.stride, geo.dilation)  # m, C, OH, OW, kh, kw
    grouped = windows.unflatten(1, (geo.groups, -1))  # m, G, Cg, OH, OW, kh, kw
    dims = {
        "samples": (0, 1, 2, 5, 6, 3, 4),
        "merged": (1, 2, 5, 6, 0, 3, 4),
        "rows": (1, 0, 3, 4, 5, 6, 2),
    }[layout]
    order = grouped.permute(*dims)
    out.view(order.shape).copy_(order)
    return out


def _per_sample_weight(weight: torch.Tensor, groups: int, batch: int, *, t: bool = False):
    """weight as (batch*G, Og, Kg) (or its transpose): one matrix per sample and group.

    With one group the batch dimension is a stride-0 expand, so nothing is copied."""
    o = weight.shape[0]
    w = weight.reshape(groups, o // groups, -1)
    if t:
        w = w.transpose(1, 2)
    if groups == 1:
        return w.expand(batch, *w.shape[1:])
    return w.expand(batch, *w.shape).reshape(batch * groups, *w.shape[1:])


def _weight_matrix(weight: torch.Tensor, groups: int) -> torch.Tensor:
    """weight (O, Cg, kh, kw) as (G, Og, K), K = (kh, kw, Cg) like channels-last columns."""
    o, cg, kh, kw = weight.shape
    w = weight.view(groups, o // groups, cg, kh, kw)
    return w.permute(0, 1, 3, 4, 2).reshape(groups, o // groups, -1)


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
    scratch = Scratch(x, cols=step * g * k * pixels, rows=step * pixels * o if g > 1 else 0)
    out = _empty_like_layout(x, (n, o, out_h, out_w), nhwc)
    w = _weight_matrix(weight, g) if nhwc else None
    for start, stop in chunk_ranges(n, step):
        batch = stop - start
        xp = padded.fill(x[start:stop])
        if nhwc:  # rows of the channels-last output are (m, OH, OW), channels innermost
            m = batch * pixels
            cols = _gather(xp, (kh, kw), geo, scratch.take("cols", g, m, k), "rows")
            rows = out[start:stop].permute(0, 2, 3, 1).reshape(m, o)
            if g == 1:
                torch.mm(cols[0], w[0].t(), out=rows)
            else:
                r = torch.bmm(cols, w.transpose(1, 2), out=scratch.take("rows", g, m, og))
                rows.view(m, g, og).copy_(r.transpose(0, 1))
            if bias is not None:
                rows.add_(bias)
            continue
        cols = _gather(xp, (kh, kw), geo, scratch.take("cols", batch * g, k, pixels), "samples")
        target = out[start:stop].view(batch * g, og, pixels)
        w = _per_sample_weight(weight, g, batch)
        if bias is None:
            torch.bmm(w, cols, out=target)
        else:
            torch.baddbmm(bias.view(g, og, 1).repeat(batch, 1, 1), w, cols, out=target)
    return out


def _transposed(weight: torch.Tensor, geo: ConvGeometry) -> tuple[torch.Tensor, ConvGeometry]:
    """Kernel and geometry whose convolution of grad_output is grad_input (stride 1): the
    "full" correlation with the flipped, channel-transposed kernel, minus the forward's
    padding (a negative padding crops)."""
    o, cg, kh, kw = weight.shape
    g = geo.groups
    flipped = weight.view(g, o // g, cg, kh, kw).transpose(1, 2).flip(-2, -1)
    (dh, dw), (top, bottom, left, right) = geo.dilation, geo.padding
    reach_h, reach_w = dh * (kh - 1), dw * (kw - 1)
    padding = (reach_h - top, reach_h - bottom, reach_w - left, reach_w - right)
    return flipped.reshape(g * cg, o // g, kh, kw), ConvGeometry((1, 1), padding, geo.dilation, g)


def backward(
    grad_out: torch.Tensor,
    x: torch.Tensor,
    weight: torch.Tensor,
    geo: ConvGeometry,
    need_x: bool,
    need_w: bool,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(grad_input, grad_weight); `grad_out` in the input's memory format (see the module
    docstring for how each is computed). Either may be skipped (`need_x`, `need_w`)."""
    # Stride 1 with C_out ≤ C_in: grad_input as a convolution of grad_output gathers no
    # more than col2im would scatter, in 3 ops per chunk instead of kh*kw + 3 (measured).
    by_convolution = need_x and geo.stride == (1, 1) and weight.shape[0] <= x.shape[1]
    grad_x = None
    if by_convolution:
        flipped, transposed = _transposed(weight, geo)
        grad_x = forward(grad_out, flipped, None, transposed)
    backward_for_layout = _backward_nhwc if is_channels_last(x) else _backward_nchw
    scattered, grad_w = backward_for_layout(
        grad_out, x, weight, geo, need_x and not by_convolution, need_w
    )
    return (grad_x if by_convolution else scattered), grad_w


def _backward_nchw(grad_out, x, weight, geo: ConvGeometry, need_x: bool, need_w: bool):
    n = x.shape[0]
    o, cg, kh, kw = weight.shape
    g, og = geo.groups, o // geo.groups
    _, _, out_h, out_w = grad_out.shape
    pixels, k = out_h * out_w, cg * kh * kw
    step = _chunk_of(x, weight, (out_h, out_w), g)
    scratch = Scratch(x, cols=step * g * k * pixels, grads=step * o * pixels if need_w else 0)
    # (G, Kg, Og): columns @ gradᵀ runs ~15 % faster than grad @ columnsᵀ (measured)
    grad_w_t = weight.new_zeros((g, k, og)) if need_w else None
    padded = PaddedChunks(x, step, geo.padding) if need_w else None
    grad_x = torch.empty_like(x) if need_x else None
    one_call = few_big_ops(x.device)
    top, bottom, left, right = geo.padding
    padded_hw = (x.shape[2] + top + bottom, x.shape[3] + left + right)
    target = None if one_call or not need_x else x.new_empty((step, x.shape[1], *padded_hw))
    for start, stop in chunk_ranges(n, step):
        batch = stop - start
        if need_w:  # one (G, Kg, M) @ (G, M, Og) multiply per chunk, M = (m, OH, OW)
            grads = scratch.take("grads", g, og, batch * pixels)
            grads.view(o, batch, pixels).copy_(grad_out[start:stop].flatten(2).transpose(0, 1))
            cols = scratch.take("cols", g, k, batch * pixels)
            _gather(padded.fill(x[start:stop]), (kh, kw), geo, cols, "merged")
            grad_w_t.baddbmm_(cols, grads.transpose(1, 2))
        if need_x:  # per-sample columns Wᵀ @ grad_output, summed back into the windows
            cols = scratch.take("cols", batch * g, k, pixels)
            grads = grad_out[start:stop].view(batch * g, og, pixels)
            torch.bmm(_per_sample_weight(weight, g, batch, t=True), grads, out=cols)
            if one_call:  # fold is col2im (unfold's adjoint), not a convolution
                summed = F.fold(cols.view(batch, g * k, pixels), padded_hw, (kh, kw),
                                dilation=geo.dilation, stride=geo.stride)  # fmt: skip
            else:  # kh*kw strided adds: faster than fold on one thread
                summed = target[:batch].zero_()
                values = cols.view(batch, g * cg, kh, kw, out_h, out_w).permute(0, 1, 4, 5, 2, 3)
                scatter_windows_(summed, values, (kh, kw), geo.stride, geo.dilation)
            if one_call and batch == n and geo.padding == (0, 0, 0, 0):
                grad_x = summed  # fold's fresh output is the whole gradient: no copy
            else:
                crop = summed[:, :, top : top + x.shape[2], left : left + x.shape[3]]
                grad_x[start:stop].copy_(crop)
    grad_w = grad_w_t.transpose(1, 2).reshape(weight.shape) if need_w else None
    return grad_x, grad_w


def _backward_nhwc(grad_out, x, weight, geo: ConvGeometry, need_x: bool, need_w: bool):
    n = x.shape[0]
    o, cg, kh, kw = weight.shape
    g, og = geo.groups, o // geo.groups
    _, _, out_h, out_w = grad_out.shape
    pixels, k = out_h * out_w, cg * kh * kw
    step = _chunk_of(x, weight, (out_h, out_w), g)
    scratch = Scratch(x, cols=step * g * k * pixels)
    w = _weight_matrix(weight, g)
    grad_w = weight.new_zeros((g, og, k)) if need_w else None
    padded = PaddedChunks(x, step, geo.padding, channels_last=True) if need_w else None
    grad_x = _empty_like_layout(x, x.shape, True) if need_x else None
    top, bottom, left, right = geo.padding
    padded_shape = (step, x.shape[1], x.shape[2] + top + bottom, x.shape[3] + left + right)
    target = _empty_like_layout(x, padded_shape, True) if need_x else None
    for start, stop in chunk_ranges(n, step):
        batch, m = stop - start, (stop - start) * pixels
        cols = scratch.take("cols", g, m, k)
        # (G, Og, M) view of the channels-last gradient rows: no copy
        grads = grad_out[start:stop].permute(0, 2, 3, 1).reshape(m, g, og).permute(1, 2, 0)
        if need_w:
            _gather(padded.fill(x[start:stop]), (kh, kw), geo, cols, "rows")
            grad_w.baddbmm_(grads, cols)
        if need_x:  # (G, M, K) = (G, M, Og) @ (G, Og, K); K = (kh, kw, Cg)
            torch.bmm(grads.transpose(1, 2), w, out=cols)
            values = cols.view(g, batch, out_h, out_w, kh, kw, cg).permute(1, 0, 6, 2, 3, 4, 5)
            chunk = target[:batch].zero_()
            scatter_windows_(chunk, values.flatten(1, 2), (kh, kw), geo.stride, geo.dilation)
            grad_x[start:stop].copy_(chunk[:, :, top : top + x.shape[2], left : left + x.shape[3]])
    if grad_w is not None:
        grad_w = grad_w.view(g, og, kh, kw, cg).permute(0, 1, 4, 2, 3).reshape(weight.shape)
    return grad_x, grad_w
