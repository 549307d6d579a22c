"""Winograd F(2x2, 3x3): 3x3 stride-1 convolution with 2.25x fewer multiplications.

A 4x4 input tile d and a 3x3 kernel g give a 2x2 output tile Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A
(Lavin & Gray, 2015). Over a batch, the 16 element-wise products become 16 matrix
multiplies (O x C) @ (C x tiles), 4 multiply-adds per output per channel pair instead of
im2col's 9. The transforms use only 0, ±1 and ±½, so float64 results stay exact to
rounding. Dilation d works the same way on each of the d x d interleaved sub-grids: a tile's
taps are d apart and its tiles 2d apart. Sizes round up to whole tiles (the overhang is
computed on zeros and cropped).

Backward uses the same machinery:
* grad_input is the "full" correlation of grad_output with the flipped, channel-transposed
  kernel: a Winograd convolution again;
* grad_weight is the adjoint of the forward: dU = Σ (A dY Aᵀ) ⊗ (Bᵀ d B), then Gᵀ dU G.
Everything runs a few samples at a time (`_chunks`) so the tiles stay in cache.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from engine.ops._chunks import PaddedChunks, chunk_ranges, chunk_size
from engine.ops.im2col import ConvGeometry
from engine.ops.window import Padding4, Pair, is_channels_last

_BT = ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1))
_G = ((1, 0, 0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0, 0, 1))
_AT = ((1, 1, 1, 0), (0, 1, -1, -1))


def _kron(rows, like: torch.Tensor) -> torch.Tensor:
    """M ⊗ M for one transform: vec(M X Mᵀ) = (M ⊗ M) vec(X) for row-major vec."""
    m = torch.tensor(rows, dtype=like.dtype, device=like.device)
    return torch.kron(m, m)


@dataclass(frozen=True)
class _Tiling:
    """How an (already padded) H x W plane is cut into 4x4 tiles for a dilation."""

    dilation: Pair
    tiles: Pair  # tiles per sub-grid along H and W
    out: Pair  # output size (before rounding up to whole tiles)

    @classmethod
    def of(cls, height: int, width: int, dilation: Pair) -> _Tiling:
        out = (height - 2 * dilation[0], width - 2 * dilation[1])
        tiles = (math.ceil(out[0] / (2 * dilation[0])), math.ceil(out[1] / (2 * dilation[1])))
        return cls(dilation, tiles, out)

    @property
    def rounded_out(self) -> Pair:
        """Output size once rounded up to whole tiles."""
        return (2 * self.dilation[0] * self.tiles[0], 2 * self.dilation[1] * self.tiles[1])

    @property
    def buffer(self) -> Pair:
        """Input size the rounded tiles read."""
        (height, width), (dh, dw) = self.rounded_out, self.dilation
        return (height + 2 * dh, width + 2 * dw)

    @property
    def per_sample(self) -> int:
        """Tiles in one sample's plane (all sub-grids)."""
        (th, tw), (dh, dw) = self.tiles, self.dilation
        return th * dh * tw * dw

    @property
    def exact(self) -> bool:
        return self.rounded_out == self.out

    def waste(self) -> float:
        """Computed outputs per useful output (≥ 1)."""
        return (self.rounded_out[0] * self.rounded_out[1]) / (self.out[0] * self.out[1])

    def tile_view(self, xp: torch.Tensor) -> torch.Tensor:
        """(m, C, th, dh, tw, dw, 4, 4) view of the 4x4 input tiles of a padded chunk."""
        (th, tw), (dh, dw) = self.tiles, self.dilation
        m, c = xp.shape[:2]
        s0, s1, s2, s3 = xp.stride()
        return xp.as_strided(
            (m, c, th, dh, tw, dw, 4, 4),
            (s0, s1, 2 * dh * s2, s2, 2 * dw * s3, s3, dh * s2, dw * s3),
            xp.storage_offset(),
        )

    def out_view(self, y: torch.Tensor) -> torch.Tensor:
        """(m, O, th, 2, dh, tw, 2, dw) view of a rounded output chunk (m, O, H', W')."""
        (th, tw), (dh, dw) = self.tiles, self.dilation
        return y.unflatten(2, (th, 2, dh)).unflatten(5, (tw, 2, dw))


def usable(x: torch.Tensor, weight: torch.Tensor, geo: ConvGeometry) -> bool:
    """Whether Winograd applies and pays off for this convolution."""
    if tuple(weight.shape[2:]) != (3, 3) or geo.stride != (1, 1) or geo.groups != 1:
        return False
    if geo.dilation != (1, 1):
        return False  # measured: the interleaved sub-grid copies cost more than they save
    if x.dtype not in (torch.float32, torch.float64):
        return False  # the transforms' intermediate sums would round in half precision
    if min(x.shape[1], weight.shape[0]) < 8:
        return False  # tiny channel counts: the transforms cost more than they save
    top, bottom, left, right = geo.padding
    height, width = x.shape[2] + top + bottom, x.shape[3] + left + right
    tiling = _Tiling.of(height, width, geo.dilation)
    return min(tiling.out) >= 1 and tiling.waste() < 1.6


def transform_weight(weight: torch.Tensor) -> torch.Tensor:
    """U = G g Gᵀ for every (O, C) kernel, as 16 matrices (16, O, C)."""
    o, c = weight.shape[:2]
    return (_kron(_G, weight) @ weight.reshape(o * c, 9).t()).view(16, o, c)


class _Scratch:
    """Flat buffers reused by every chunk; `take` gives a contiguous view of the first part
    (a slice of a shaped buffer would not be contiguous for a short last chunk)."""

    def __init__(self, like: torch.Tensor, **sizes: int) -> None:
        self.buffers = {name: like.new_empty(size) for name, size in sizes.items()}

    def take(self, name: str, *shape: int) -> torch.Tensor:
        return self.buffers[name][: math.prod(shape)].view(shape)


def _tiles(xp: torch.Tensor, tiling: _Tiling, scratch: _Scratch) -> torch.Tensor:
    """V = Bᵀ d B for every tile of a padded chunk: (16, C, tiles)."""
    view = tiling.tile_view(xp).permute(6, 7, 1, 0, 2, 3, 4, 5)  # 4, 4, C, m, th, dh, tw, dw
    gathered = scratch.take("gathered", *view.shape)
    gathered.copy_(view)
    c, p = xp.shape[1], xp.shape[0] * tiling.per_sample
    out = scratch.take("tiles", 16, c * p)
    torch.mm(_kron(_BT, xp), gathered.view(16, c * p), out=out)
    return out.view(16, c, p)


def convolve(
    x: torch.Tensor, u: torch.Tensor, padding: Padding4, dilation: Pair, bias=None, out=None
) -> torch.Tensor:
    """Winograd convolution of x (N, C, H, W) with transformed weights u (16, O, C).

    `padding` (top, bottom, left, right) may be negative (a crop). The output takes `out`'s
    memory format when given, else x's.
    """
    n, c, height, width = x.shape
    o = u.shape[1]
    top, bottom, left, right = padding
    tiling = _Tiling.of(height + top + bottom, width + left + right, dilation)
    if out is None:
        out = torch.empty((n, o, *tiling.out), dtype=x.dtype, device=x.device)
    per = tiling.per_sample
    step = chunk_size(n, (32 * c + 20 * o) * per * x.element_size(), x.device)
    padded = PaddedChunks(x, step, padding, tiling.buffer)
    size = step * per
    scratch = _Scratch(x, gathered=16 * c * size, tiles=16 * c * size, m=16 * o * size,
                       y=4 * o * size)  # fmt: skip
    rounded = None if tiling.exact else x.new_empty((step, o, *tiling.rounded_out))
    a = _kron(_AT, x)
    for start, stop in chunk_ranges(n, step):
        batch, p = stop - start, (stop - start) * per
        tiles = _tiles(padded.fill(x[start:stop]), tiling, scratch)
        m = torch.bmm(u, tiles, out=scratch.take("m", 16, o, p))
        yc = torch.mm(a, m.view(16, -1), out=scratch.take("y", 4, o * p)).view(4, o, p)
        if bias is not None:
            yc.add_(bias.view(1, o, 1))
        (th, tw), (dh, dw) = tiling.tiles, tiling.dilation
        values = yc.view(2, 2, o, batch, th, dh, tw, dw).permute(3, 2, 4, 0, 5, 6, 1, 7)
        if tiling.exact:
            tiling.out_view(out[start:stop]).copy_(values)
        else:
            r = rounded[:batch]
            tiling.out_view(r).copy_(values)
            out[start:stop].copy_(r[:, :, : tiling.out[0], : tiling.out[1]])
    return out


def forward(x: torch.Tensor, weight: torch.Tensor, bias, geo: ConvGeometry) -> torch.Tensor:
    """The convolution (output in the input's memory format)."""
    top, bottom, left, right = geo.padding
    tiling = _Tiling.of(x.shape[2] + top + bottom, x.shape[3] + left + right, geo.dilation)
    out = torch.empty(
        (x.shape[0], weight.shape[0], *tiling.out),
        dtype=x.dtype,
        device=x.device,
        memory_format=torch.channels_last if is_channels_last(x) else torch.contiguous_format,
    )
    return convolve(x, transform_weight(weight), geo.padding, geo.dilation, bias, out)


def _grad_weight(grad_out, x, weight, geo: ConvGeometry) -> torch.Tensor:
    """Gᵀ [Σ_tiles (A dY Aᵀ) (Bᵀ d B)ᵀ] G, chunk by chunk."""
    n, c, height, width = x.shape
    o = weight.shape[0]
    top, bottom, left, right = geo.padding
    tiling = _Tiling.of(height + top + bottom, width + left + right, geo.dilation)
    per = tiling.per_sample
    step = chunk_size(n, (32 * c + 20 * o) * per * x.element_size(), x.device)
    padded = PaddedChunks(x, step, geo.padding, tiling.buffer)
    size = step * per
    scratch = _Scratch(x, gathered=16 * c * size, tiles=16 * c * size, dy=4 * o * size,
                       dm=16 * o * size)  # fmt: skip
    rounded = None if tiling.exact else x.new_zeros((step, o, *tiling.rounded_out))
    a_t = _kron(_AT, x).t()  # (16, 4)
    du = x.new_zeros((16, o, c))
    for start, stop in chunk_ranges(n, step):
        batch, p = stop - start, (stop - start) * per
        tiles = _tiles(padded.fill(x[start:stop]), tiling, scratch)
        g = grad_out[start:stop]
        if rounded is not None:  # zero overhang: those outputs do not exist
            rounded[:batch, :, : tiling.out[0], : tiling.out[1]].copy_(g)
            g = rounded[:batch]
        tiles_dy = tiling.out_view(g).permute(3, 6, 1, 0, 2, 4, 5, 7)  # 2, 2, O, m, th, dh, tw, dw
        dyc = scratch.take("dy", *tiles_dy.shape)
        dyc.copy_(tiles_dy)
        dmc = torch.mm(a_t, dyc.view(4, -1), out=scratch.take("dm", 16, o * p)).view(16, o, p)
        du.baddbmm_(dmc, tiles.transpose(1, 2))
    grad_w = _kron(_G, x).t() @ du.view(16, o * c)  # (9, O*C)
    return grad_w.view(3, 3, o, c).permute(2, 3, 0, 1).contiguous()


def backward(grad_out, x, weight, geo: ConvGeometry, need_x: bool, need_w: bool):
    """(grad_input, grad_weight); `grad_out` in the input's memory format."""
    grad_x = grad_w = None
    if need_w:
        grad_w = _grad_weight(grad_out, x, weight, geo)
    if need_x:
        (dh, dw), (top, bottom, left, right) = geo.dilation, geo.padding
        full = (2 * dh - top, 2 * dh - bottom, 2 * dw - left, 2 * dw - right)
        flipped = weight.transpose(0, 1).flip(2, 3)
        grad_x = torch.empty_like(x, memory_format=torch.preserve_format)
        convolve(grad_out, transform_weight(flipped), full, geo.dilation, out=grad_x)
    return grad_x, grad_w
