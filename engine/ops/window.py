"""The one window primitive every hand-written window op is built on.

A convolution or pooling layer looks at the input through a sliding window. Instead of
looping over output pixels, `window_view` returns a *view* of the (padded) input whose last
two dimensions index the window and whose middle two index the output pixel: no data is
copied until an op reduces over it. The view honours the input's own strides, so it works
for contiguous and channels-last tensors alike.
"""

from __future__ import annotations

import torch

Pair = tuple[int, int]
Padding4 = tuple[int, int, int, int]  # (top, bottom, left, right)


def windowed_size(size: int, kernel: int, stride: int, dilation: int) -> int:
    """Number of window positions along one axis of an already padded input."""
    return (size - dilation * (kernel - 1) - 1) // stride + 1


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


def window_view(x: torch.Tensor, kernel: Pair, stride: Pair, dilation: Pair) -> torch.Tensor:
    """View (N, C, H, W) as (N, C, OH, OW, kh, kw) windows; no copy, no autograd tricks.

    Element [n, c, oh, ow, i, j] is x[n, c, oh*sh + i*dh, ow*sw + j*dw].
    """
    n, c, height, width = x.shape
    out_h = windowed_size(height, kernel[0], stride[0], dilation[0])
    out_w = windowed_size(width, kernel[1], stride[1], dilation[1])
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

    The adjoint of `window_view` (col2im). Windows overlap, so one in-place add on the view
    would race; one add per kernel offset touches each target pixel at most once. The loop
    is over kernel positions (kh*kw), never over output pixels.
    """
    windows = window_view(target, kernel, stride, dilation)
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            # .add_ on the view, not `+=`: item assignment would copy the view onto itself.
            windows[:, :, :, :, i, j].add_(values[:, :, :, :, i, j])
    return target
