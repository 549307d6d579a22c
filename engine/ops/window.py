"""The one window primitive every hand-written window op is built on.

A convolution or pooling layer looks at the input through a sliding window. Instead of
looping over output pixels, `window_view` returns a *view* of the (padded) input whose last
two dimensions index the window and whose middle two index the output pixel: no data is
copied until an op reduces over it. The view honours the input's own strides, so it works
for contiguous and channels-last tensors alike.

Everything the window ops share lives here: padding (`pad2d` for a whole tensor,
`PaddedChunks` for a batch padded chunk by chunk into reused scratch memory) and the
adjoint of the view (`scatter_windows_`, behind both col2im and pooling's backward); how
many windows fit is `arithmetic.output_size`, the one copy of the formula (torch-free, so
the size tools need no torch). Convolution is then a
window view reduced against a kernel (`im2col`), pooling a window view reduced by max or
mean (`pool`), like tinygrad's conv-as-a-pooling-op over one `_pool`.
"""

from __future__ import annotations

import math

import torch

from engine.ops._chunks import Scratch
from engine.ops.arithmetic import output_size

Pair = tuple[int, int]
Padding4 = tuple[int, int, int, int]  # (top, bottom, left, right)


def is_channels_last(x: torch.Tensor) -> bool:
    """True for NHWC memory (channels innermost) that is not also plain NCHW-contiguous."""
    return x.dim() == 4 and (
        x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    )


def pad2d(x: torch.Tensor, padding: Padding4, value: float = 0.0) -> torch.Tensor:
    """Pad the last two dims by (top, bottom, left, right) with a constant.

    Written with a fresh buffer and one copy so it stays autograd-friendly and keeps the
    input's memory format (channels-last in, channels-last out).
    """
    top, bottom, left, right = padding
    if top == bottom == left == right == 0:
        return x
    *lead, height, width = x.shape
    shape = (*lead, height + top + bottom, width + left + right)
    if is_channels_last(x):
        out = torch.empty(
            shape, dtype=x.dtype, device=x.device, memory_format=torch.channels_last
        ).fill_(value)
    else:
        out = x.new_full(shape, value)
    out[..., top : top + height, left : left + width] = x
    return out


# An NCHW -> NHWC copy reads C values a plane apart per output run; when the plane's size
# is a multiple of this many elements (1 KB of float32) those reads fall into a few cache
# sets and the copy ran 1.3-3x slower (16x16 and 32x32 planes, EPYC) than going through a
# per-sample 2-D transpose, which torch copies in cache blocks. Other sizes are faster
# as one strided copy (28x28: 2x), and so are small planes. CPU only.
ALIASING_PLANE = 256
BLOCKED_MIN = 60 * 60  # torch's blocked 2-D transpose copy starts at this many elements


class PaddedChunks:
    """`pad2d` for a batch that goes through chunk by chunk, into one reused scratch buffer.

    The buffer is filled with `value` once; every `fill` overwrites the same interior
    region, so the border keeps it. A negative padding crops the source instead. With
    nothing to pad (and the layout already right), `fill` returns the chunk itself. An
    NCHW chunk whose planes alias in cache goes into a channels-last buffer one sample at
    a time through a 2-D transpose (`ALIASING_PLANE`).
    """

    def __init__(
        self,
        like: torch.Tensor,
        chunk: int,
        padding: Padding4,
        *,
        channels_last: bool = False,
        value: float = 0.0,
        name: str = "padded",
    ) -> None:
        _, channels, height, width = like.shape
        top, bottom, left, right = padding
        self.size = (height + top + bottom, width + left + right)
        self.passthrough = padding == (0, 0, 0, 0) and (
            not channels_last or like.is_contiguous(memory_format=torch.channels_last)
        )
        # Source rows/columns that land inside the buffer, and where they land.
        self.src = (slice(max(0, -top), height - max(0, -bottom)),
                    slice(max(0, -left), width - max(0, -right)))  # fmt: skip
        self.dst_origin = (max(0, top), max(0, left))
        self.buffer = self.stage = None
        plane = height * width
        if (
            channels_last
            and like.device.type == "cpu"  # a copy per sample would cost launches elsewhere
            and not self.passthrough
            and plane % ALIASING_PLANE == 0
            and plane * channels >= BLOCKED_MIN
            and self.src == (slice(0, height), slice(0, width))
        ):
            self.stage = Scratch(like, **{f"{name}_stage": plane * channels}).take(
                f"{name}_stage", plane, channels
            )
        if not self.passthrough:
            numel = chunk * channels * math.prod(self.size)
            flat = Scratch(like, **{name: numel}).take(name, numel).fill_(value)
            if channels_last:  # NHWC memory, NCHW shape
                self.buffer = flat.view(chunk, *self.size, channels).permute(0, 3, 1, 2)
            else:
                self.buffer = flat.view(chunk, channels, *self.size)

    def fill(self, chunk: torch.Tensor) -> torch.Tensor:
        """The chunk (m, C, H, W) padded (and cropped) into the buffer: (m, C, *size)."""
        if self.buffer is None:
            return chunk
        src = chunk[:, :, self.src[0], self.src[1]]
        top, left = self.dst_origin
        out = self.buffer[: chunk.shape[0]]
        interior = out[:, :, top : top + src.shape[2], left : left + src.shape[3]]
        if self.stage is None or not src.is_contiguous():
            interior.copy_(src)
            return out
        channels, height, width = src.shape[1:]
        planes = self.stage.view(height, width, channels).permute(2, 0, 1)
        for sample, target in zip(src, interior, strict=True):
            self.stage.copy_(sample.view(channels, -1).t())  # torch's blocked transpose
            target.copy_(planes)
        return out


def window_view(x: torch.Tensor, kernel: Pair, stride: Pair, dilation: Pair) -> torch.Tensor:
    """View (N, C, H, W) as (N, C, OH, OW, kh, kw) windows; no copy, no autograd tricks.

    Element [n, c, oh, ow, i, j] is x[n, c, oh*sh + i*dh, ow*sw + j*dw].
    """
    n, c, height, width = x.shape
    out_h = output_size(height, kernel[0], stride[0], 0, dilation[0])
    out_w = output_size(width, kernel[1], stride[1], 0, dilation[1])
    sn, sc, sh, sw = x.stride()
    return x.as_strided(
        (n, c, out_h, out_w, kernel[0], kernel[1]),
        (sn, sc, sh * stride[0], sw * stride[1], sh * dilation[0], sw * dilation[1]),
        x.storage_offset(),
    )


def scatter_windows_(
    target: torch.Tensor,
    values: torch.Tensor,
    kernel: Pair,
    stride: Pair,
    dilation: Pair,
) -> torch.Tensor:
    """Add (N, C, OH, OW, kh, kw) window values back into `target` (N, C, H, W), in place.

    The adjoint of `window_view` (col2im; pooling's backward). `values` may be any view
    (a broadcast share, permuted columns) and may cover fewer windows than fit. Windows
    overlap, so one in-place add on the view would race; one add per kernel offset touches
    each target pixel at most once. The loop is over kernel positions (kh*kw), never over
    output pixels.
    """
    out_h, out_w = values.shape[2], values.shape[3]
    windows = window_view(target, kernel, stride, dilation)[:, :, :out_h, :out_w]
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            # .add_ on the view, not `+=`: item assignment would copy the view onto itself.
            windows[:, :, :, :, i, j].add_(values[:, :, :, :, i, j])
    return target
