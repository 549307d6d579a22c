"""The convolution kernel for any device: im2col rows and one matrix product per chunk.

Any kernel size, stride, dilation, padding and group count. With several CPU threads each
takes a slice of the batch (`_parallel`); a slice goes through in chunks sized by `_chunks`
into scratch buffers reused across chunks and calls; the products run on `_gemm` (oneDNN
for float32 on a CPU). Backward re-gathers the columns per chunk instead of saving kh*kw
copies of the input.

* forward: each chunk is padded into channels-last order (`PaddedChunks`), its windows are
  gathered as rows (M, K) with M = (m, OH, OW) and K = (kh, kw, Cg), channels innermost so
  each window row is a few contiguous runs; W @ rowsᵀ (O, M) is copied into an NCHW output
  with the bias added in the same pass (rows @ Wᵀ for a channels-last output, the bias in
  the product). Below 16 channels per group (NCHW) the columns are per sample, (Kg, L)
  along contiguous output rows, and a batched product writes the output in place.
* grad_weight: gradᵀ (Og, M) @ columns (M, Kg) per chunk, the columns gathered as (Kg, M)
  with Kg = (Cg, kh, kw): the weight's own order, so the sum needs no reordering.
* grad_input, stride 1: the convolution of grad_output with the flipped, channel-swapped
  kernel (this same forward). Stride s > 1 (no dilation): split by stride phase, each input
  pixel h ≡ r (mod s) only meets the taps i ≡ r + p (mod s), so every phase is a stride-1
  convolution of grad_output with that sub-kernel. Per chunk grad_output is padded into
  channels-last order once for all phases, and the phases are interleaved in a
  cache-sized chunk of grad_input that is copied out whole. Few channels, a dilated reach
  large against the image, or stride and dilation together: columns Wᵀ @ grad scattered
  back through the windows (col2im, `window.scatter_windows_`). `grad_input_method`
  decides.

The output keeps the input's memory format.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.ops._chunks import Scratch, chunk_ranges, chunk_size
from engine.ops._gemm import onednn_operand, times_t
from engine.ops._parallel import over_batch
from engine.ops.window import (
    PaddedChunks,
    Padding4,
    Pair,
    is_channels_last,
    output_size,
    scatter_windows_,
    window_view,
)

FEW_CHANNELS = 16  # below this many channels per group, channels-last rows are too short
GRAD_INPUT_METHOD: str | None = None  # force "transposed"/"phases"/"col2im" (benchmarks)


@dataclass(frozen=True)
class ConvGeometry:
    """Validated convolution arguments plus the sizes every kernel needs."""

    stride: Pair
    padding: Padding4  # (top, bottom, left, right); negative entries crop
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

    "rows": (G, M, Kg) with Kg = (kh, kw, Cg), channels innermost (forward, col2im);
    "merged": (G, Kg, M) with Kg = (Cg, kh, kw), the weight's order (grad_weight);
    "samples": (m*G, Kg, L), Kg = (Cg, kh, kw), one matrix per sample (few-channel forward).
    M = (m, OH, OW), L = (OH, OW).
    """
    windows = window_view(xp, kernel, geo.stride, geo.dilation)  # m, C, OH, OW, kh, kw
    grouped = windows.unflatten(1, (geo.groups, -1))  # m, G, Cg, OH, OW, kh, kw
    dims = {
        "rows": (1, 0, 3, 4, 5, 6, 2),
        "merged": (1, 2, 5, 6, 0, 3, 4),
        "samples": (0, 1, 2, 5, 6, 3, 4),
    }[layout]
    order = grouped.permute(*dims)
    out.view(order.shape).copy_(order)
    return out


def _weight_rows(weight: torch.Tensor, groups: int) -> torch.Tensor:
    """weight (O, Cg, kh, kw) as (G, Og, K), K = (kh, kw, Cg) like the gathered rows."""
    o, cg, kh, kw = weight.shape
    w = weight.view(groups, o // groups, cg, kh, kw)
    return w.permute(0, 1, 3, 4, 2).reshape(groups, o // groups, -1).contiguous()


def _rows_of(t: torch.Tensor) -> torch.Tensor:
    """(m, C, H, W) as its (m, H, W, C) view: the rows (M, C) of a channels-last tensor."""
    return t.permute(0, 2, 3, 1)


def forward(
    x: torch.Tensor, weight: torch.Tensor, bias, geo: ConvGeometry, out: torch.Tensor | None = None
) -> torch.Tensor:
    """Convolution of an unpadded (N, C, H, W) input; no autograd bookkeeping. `out`, when
    given, is written in place (any strides; a strided NCHW one through a contiguous
    chunk). With several CPU threads each takes a slice of the batch (`_parallel`)."""
    if out is None:
        out_h, out_w = geo.output_size(x, weight)
        out = _empty_like_layout(x, (x.shape[0], weight.shape[0], out_h, out_w),
                                 is_channels_last(x))  # fmt: skip

    def part(start: int, stop: int) -> None:
        _forward(x[start:stop], weight, bias, geo, out[start:stop])

    over_batch(x.shape[0], x.device, part)
    return out


class _Product:
    """One convolution's weight, prepared once per call, and how the products of a chunk's
    gathered rows (G, M, K) become output: W @ rowsᵀ (O, M) copied into an NCHW output with
    the bias added, or rows @ Wᵀ (M, O) into a channels-innermost one.

    A strided NCHW output (grad_input's phase slices) is written through a contiguous
    chunk: the transposing copy of the product straight into stride-s rows ran 3x slower
    than the copy into a contiguous chunk plus the strided copy."""

    def __init__(self, weight: torch.Tensor, bias, groups: int, out: torch.Tensor) -> None:
        self.o, self.groups, self.bias = weight.shape[0], groups, bias
        self.w = _weight_rows(weight, groups)
        self.nhwc_out = out.is_contiguous(memory_format=torch.channels_last) or (
            out.stride(1) == 1 and not out.is_contiguous()
        )
        self.staged = not self.nhwc_out and not out.is_contiguous()
        w_first = groups == 1 and not self.nhwc_out
        self.w_first = onednn_operand(self.w[0]) if w_first else None

    def staging(self, step: int, pixels: int) -> int:
        """Elements of the "staged" scratch buffer chunks of `step` samples need."""
        return step * self.o * pixels if self.staged and self.w_first is not None else 0

    def write(self, cols: torch.Tensor, target: torch.Tensor, scratch: Scratch) -> None:
        """Multiply the rows `cols` of one chunk and store the result into `target`."""
        batch, o, out_h, out_w = target.shape
        bias, g = self.bias, self.groups
        if self.w_first is not None:  # (O, M) = W @ rowsᵀ: NCHW order
            product = times_t(self.w_first, cols[0]).view(o, batch, out_h, out_w).transpose(0, 1)
            dense = scratch.take("staged", *target.shape) if self.staged else target
            if bias is None:
                dense.copy_(product)
            else:
                torch.add(product, bias.view(1, o, 1, 1), out=dense)
            if self.staged:
                target.copy_(dense)
            return
        rows_view = _rows_of(target)  # (m, OH, OW, O) view
        if g == 1:
            rows = times_t(cols[0], self.w[0], bias)
        else:
            rows = torch.bmm(cols, self.w.transpose(1, 2)).transpose(0, 1)  # (M, G, Og)
            if bias is not None:
                rows = rows + bias.view(g, o // g)
        rows_view.copy_(rows.reshape(rows_view.shape))


def _forward(x: torch.Tensor, weight: torch.Tensor, bias, geo: ConvGeometry, out: torch.Tensor):
    n = x.shape[0]
    o, cg, kh, kw = weight.shape
    g = geo.groups
    out_h, out_w = out.shape[2], out.shape[3]
    k = cg * kh * kw
    step = _chunk_of(x, weight, (out_h, out_w), g)
    if cg < FEW_CHANNELS and not is_channels_last(x) and out.is_contiguous():
        return _forward_samples(x, weight, bias, geo, out, step)
    padded = PaddedChunks(x, step, geo.padding, channels_last=True)
    product = _Product(weight, bias, g, out)
    scratch = Scratch(x, cols=step * out_h * out_w * g * k,
                      staged=product.staging(step, out_h * out_w))  # fmt: skip
    for start, stop in chunk_ranges(n, step):
        m = (stop - start) * out_h * out_w
        cols = _gather(padded.fill(x[start:stop]), (kh, kw), geo, scratch.take("cols", g, m, k),
                       "rows")  # fmt: skip
        product.write(cols, out[start:stop], scratch)
    return out


def _forward_samples(x, weight, bias, geo: ConvGeometry, out: torch.Tensor, step: int):
    """Few input channels, NCHW: per-sample columns (Kg, L) gathered along contiguous output
    rows (channels-last rows would be runs of 3 floats) and a batched product that writes
    the NCHW output in place."""
    o, cg, kh, kw = weight.shape
    g, og = geo.groups, o // geo.groups
    pixels, k = out.shape[2] * out.shape[3], cg * kh * kw
    padded = PaddedChunks(x, step, geo.padding)
    scratch = Scratch(x, cols=step * g * k * pixels)
    w = weight.reshape(g, og, k)
    for start, stop in chunk_ranges(x.shape[0], step):
        batch = stop - start
        cols = _gather(padded.fill(x[start:stop]), (kh, kw), geo,
                       scratch.take("cols", batch * g, k, pixels), "samples")  # fmt: skip
        target = out[start:stop].view(batch * g, og, pixels)
        weights = w.expand(batch, g, og, k).reshape(batch * g, og, k)
        if bias is None:
            torch.bmm(weights, cols, out=target)
        else:
            torch.baddbmm(bias.view(g, og, 1).repeat(batch, 1, 1), weights, cols, out=target)
    return out


def backward(
    grad_out: torch.Tensor,
    x: torch.Tensor,
    weight: torch.Tensor,
    geo: ConvGeometry,
    need_x: bool,
    need_w: bool,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(grad_input, grad_weight); `grad_out` in the input's memory format (see the module
    docstring for how each is computed). Either may be skipped (`need_x`, `need_w`). With
    several CPU threads each takes a slice of the batch; their weight gradients are summed."""
    grad_x = _empty_like_layout(x, x.shape, is_channels_last(x)) if need_x else None

    def part(start: int, stop: int) -> torch.Tensor | None:
        chunk = grad_out[start:stop]
        if need_x:
            _grad_input(chunk, x[start:stop], weight, geo, grad_x[start:stop])
        return _grad_weight(chunk, x[start:stop], weight, geo) if need_w else None

    grad_ws = over_batch(x.shape[0], x.device, part)
    grad_w = None
    if need_w:
        grad_w = grad_ws[0]
        for other in grad_ws[1:]:
            grad_w = grad_w.add_(other)
    return grad_x, grad_w


def _flipped(weight: torch.Tensor, groups: int, rows: slice, cols: slice) -> torch.Tensor:
    """The taps `rows` x `cols` of each kernel, flipped, with in/out channels swapped per
    group: the kernel that carries grad_output back to grad_input."""
    o, cg = weight.shape[:2]
    sub = weight[:, :, rows, cols]
    th, tw = sub.shape[2], sub.shape[3]
    swapped = sub.reshape(groups, o // groups, cg, th, tw).transpose(1, 2).flip(-2, -1)
    return swapped.reshape(groups * cg, o // groups, th, tw)


def _phases(k: int, s: int, p: int, size: int, out: int):
    """Per stride phase r of one axis: (r, taps, before, after), grad_input[r::s] being the
    stride-1 correlation of grad_output, padded by (before, after), with the flipped taps."""
    for r in range(min(s, size)):
        first = (r + p) % s  # the first tap that reaches h ≡ r (mod s)
        taps = range(first, k, s)
        count = len(range(r, size, s))
        if not taps:
            yield r, None, 0, 0
            continue
        shift = (r + p - first) // s
        before = len(taps) - 1 - shift
        yield r, slice(first, k, s), before, count + len(taps) - 1 - out - before


def grad_input_method(x: torch.Tensor, weight: torch.Tensor, geo: ConvGeometry) -> str:
    """How grad_input is computed: "transposed" (stride 1), "phases" (stride > 1) — both
    convolutions of grad_output — or "col2im" when those would write too few channels."""
    if GRAD_INPUT_METHOD is not None:
        return GRAD_INPUT_METHOD
    if weight.shape[1] < FEW_CHANNELS:
        return "col2im"
    if geo.stride == (1, 1):
        # The transposed convolution multiplies every grad_input pixel by the whole kernel;
        # where the kernel's reach is large against the image (big dilation) most of those
        # products meet padding, and scattering the forward's columns back costs less.
        in_pixels = x.shape[2] * x.shape[3]
        out_h, out_w = geo.output_size(x, weight)
        return "transposed" if in_pixels <= 1.5 * out_h * out_w else "col2im"
    return "phases" if geo.dilation == (1, 1) else "col2im"


def _grad_input(grad_out, x, weight, geo: ConvGeometry, out: torch.Tensor) -> torch.Tensor:
    dh, dw = geo.dilation
    top, bottom, left, right = geo.padding
    kh, kw = weight.shape[2], weight.shape[3]
    method = grad_input_method(x, weight, geo)
    if method == "transposed":  # the "full" correlation with the flipped kernel
        reach_h, reach_w = dh * (kh - 1), dw * (kw - 1)
        padding = (reach_h - top, reach_h - bottom, reach_w - left, reach_w - right)
        flipped = _flipped(weight, geo.groups, slice(None), slice(None))
        transposed = ConvGeometry((1, 1), padding, geo.dilation, geo.groups)
        return forward(grad_out, flipped, None, transposed, out=out)
    if method == "col2im":
        return _col2im(grad_out, x, weight, geo, out)
    return _grad_input_phases(grad_out, x, weight, geo, out)


def _grad_input_phases(grad_out, x, weight, geo: ConvGeometry, grad_x: torch.Tensor):
    """Stride s > 1: every stride phase of grad_input is a stride-1 convolution of
    grad_output with its sub-kernel. Chunk by chunk, grad_output is padded into
    channels-last order once, by the most any phase needs on each side, and every phase
    gathers its rows from a window of that one copy (one transposing pad per chunk instead
    of s²). The phases interleave into a cache-sized chunk of grad_input, copied out
    whole: s² stride-s passes over grad_input itself (fresh memory, out of cache) cost
    more."""
    (sh, sw), g = geo.stride, geo.groups
    top, _, left, _ = geo.padding
    kh, kw = weight.shape[2], weight.shape[3]
    n, channels, height, width = x.shape
    out_h, out_w = grad_out.shape[2], grad_out.shape[3]
    phases = []  # (rh, rw, flipped sub-kernel, its padding of grad_output)
    for rh, rows, top_h, bottom_h in _phases(kh, sh, top, height, out_h):
        for rw, cols, left_w, right_w in _phases(kw, sw, left, width, out_w):
            if rows is not None and cols is not None:
                flipped = _flipped(weight, g, rows, cols)
                phases.append((rh, rw, flipped, (top_h, bottom_h, left_w, right_w)))
    if not phases or n == 0:
        return grad_x.zero_()
    pad = tuple(max(0, *(p[3][side] for p in phases)) for side in range(4))
    k_max = max(f[0].numel() for _, _, f, _ in phases) * g  # per output channel, all groups
    pixels = len(range(0, height, sh)) * len(range(0, width, sw))  # phase 0's, the largest
    per_sample = ((k_max + channels) * pixels + channels * height * width) * x.element_size()
    step = chunk_size(n, per_sample, x.device)
    scratch = Scratch(x, assembled=step * channels * height * width)
    flat = scratch.take("assembled", step * channels * height * width)
    if is_channels_last(grad_x):
        assembled = flat.view(step, height, width, channels).permute(0, 3, 1, 2)
    else:
        assembled = flat.view(step, channels, height, width)
    if len(phases) < sh * sw:
        assembled.zero_()  # the phases no tap reaches stay zero in every chunk
    products = [_Product(f, None, g, assembled[:, :, rh::sh, rw::sw]) for rh, rw, f, _ in phases]
    staging = max(p.staging(step, pixels) for p in products)
    scratch = Scratch(x, cols=step * pixels * k_max, staged=staging)
    padded = PaddedChunks(grad_out, step, pad, channels_last=True)
    unit = ConvGeometry((1, 1), (0, 0, 0, 0), (1, 1), g)
    for start, stop in chunk_ranges(n, step):
        chunk = padded.fill(grad_out[start:stop])
        rows_h, cols_w = chunk.shape[2], chunk.shape[3]
        whole = assembled[: stop - start]
        for (rh, rw, flipped, (t, b, l, r)), product in zip(phases, products, strict=True):
            view = chunk[:, :, pad[0] - t : rows_h - pad[1] + b, pad[2] - l : cols_w - pad[3] + r]
            part = whole[:, :, rh::sh, rw::sw]
            m, k = part.shape[0] * part.shape[2] * part.shape[3], flipped[0].numel()
            cols = _gather(view, flipped.shape[2:], unit, scratch.take("cols", g, m, k), "rows")
            product.write(cols, part, scratch)
        grad_x[start:stop].copy_(whole)
    return grad_x


def _col2im(grad_out, x, weight, geo: ConvGeometry, grad_x: torch.Tensor) -> torch.Tensor:
    """grad_input as columns Wᵀ @ grad_output scattered back through the windows. Columns
    are per sample (Kg, L) for an NCHW input (the scatter then reads along output rows),
    rows (M, K) with channels innermost for channels-last."""
    n = x.shape[0]
    o, cg, kh, kw = weight.shape
    g, og = geo.groups, o // geo.groups
    _, _, out_h, out_w = grad_out.shape
    pixels, k = out_h * out_w, cg * kh * kw
    nhwc = is_channels_last(x)
    step = _chunk_of(x, weight, (out_h, out_w), g)
    scratch = Scratch(x, cols=step * pixels * g * k)
    top, bottom, left, right = geo.padding
    padded_hw = (x.shape[2] + top + bottom, x.shape[3] + left + right)
    target = x.new_empty((step, x.shape[1], *padded_hw))
    if nhwc:
        w = _weight_rows(weight, g)  # (G, Og, K), K = (kh, kw, Cg)
    else:
        w_t = weight.reshape(g, og, k).transpose(1, 2)  # (G, K, Og), K = (Cg, kh, kw)
    for start, stop in chunk_ranges(n, step):
        batch, m = stop - start, (stop - start) * pixels
        if nhwc:
            grads = _rows_of(grad_out[start:stop]).reshape(m, g, og).transpose(0, 1)
            cols = torch.bmm(grads, w, out=scratch.take("cols", g, m, k))  # (G, M, K)
            values = cols.view(g, batch, out_h, out_w, kh, kw, cg).permute(1, 0, 6, 2, 3, 4, 5)
            values = values.flatten(1, 2)
        else:
            grads = grad_out[start:stop].reshape(batch * g, og, pixels)
            weights = w_t.expand(batch, g, k, og).reshape(batch * g, k, og)
            cols = torch.bmm(weights, grads, out=scratch.take("cols", batch * g, k, pixels))
            values = cols.view(batch, g * cg, kh, kw, out_h, out_w).permute(0, 1, 4, 5, 2, 3)
        summed = target[:batch].zero_()
        scatter_windows_(summed, values, (kh, kw), geo.stride, geo.dilation)
        grad_x[start:stop].copy_(summed[:, :, top : top + x.shape[2], left : left + x.shape[3]])
    return grad_x


def _grad_weight(grad_out, x, weight, geo: ConvGeometry) -> torch.Tensor:
    """Σ over chunks of gradᵀ (Og, M) @ columns (M, Kg), the columns in the weight's order."""
    n = x.shape[0]
    o, cg, kh, kw = weight.shape
    g, og = geo.groups, o // geo.groups
    _, _, out_h, out_w = grad_out.shape
    pixels, k = out_h * out_w, cg * kh * kw
    step = _chunk_of(x, weight, (out_h, out_w), g)
    scratch = Scratch(x, cols=step * g * k * pixels, grads=step * o * pixels)
    padded = PaddedChunks(x, step, geo.padding)
    grad_w = weight.new_zeros((g, og, k))
    for start, stop in chunk_ranges(n, step):
        batch = stop - start
        grads = scratch.take("grads", g, og, batch * pixels)
        grads.view(o, batch, pixels).copy_(grad_out[start:stop].flatten(2).transpose(0, 1))
        cols = scratch.take("cols", g, k, batch * pixels)
        _gather(padded.fill(x[start:stop]), (kh, kw), geo, cols, "merged")
        if g == 1:
            grad_w[0].add_(times_t(grads[0], cols[0]))
        else:
            grad_w.baddbmm_(grads, cols.transpose(1, 2))
    return grad_w.view(weight.shape)
