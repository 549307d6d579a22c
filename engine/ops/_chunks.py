"""Batch chunking for the hand-written convolution: expand a few samples at a time.

Both convolution kernels expand their input before the matrix multiply (im2col columns are
kh*kw times the input, Winograd tiles four times). Expanding a whole batch writes hundreds
of MB, page-faults fresh memory and reads it all back once from DRAM; on a CPU that copy,
not the arithmetic, was the cost. A chunk of a few samples fits in the L2/L3 cache, and its
scratch buffers are reused chunk after chunk. Accelerators have the bandwidth to expand the
whole batch and pay a launch per chunk, so they get one big chunk.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from engine.ops.window import Padding4

CPU_CHUNK_BYTES = 6 << 20  # scratch per chunk on a CPU: about what L2 + a slice of L3 hold
DEVICE_CHUNK_BYTES = 512 << 20


def chunk_size(batch: int, bytes_per_sample: int, device: torch.device) -> int:
    """Samples per chunk so that one chunk's scratch stays within the device's budget."""
    budget = CPU_CHUNK_BYTES if device.type == "cpu" else DEVICE_CHUNK_BYTES
    return max(1, min(batch, budget // max(1, bytes_per_sample)))


def chunk_ranges(batch: int, size: int) -> Iterator[tuple[int, int]]:
    """(start, stop) of each chunk of `size` samples (the last may be shorter)."""
    for start in range(0, batch, size):
        yield start, min(batch, start + size)


class PaddedChunks:
    """A zero-bordered scratch buffer that receives one chunk of a batch at a time, padded.

    The buffer is zeroed once; every `fill` overwrites the same interior region, so the
    border stays zero. A negative padding crops the source instead. The buffer may be larger
    than the padded size: the extra bottom/right rows and columns stay zero too (tiling
    rounds sizes up). With nothing to pad or round, `fill` returns the chunk itself.
    """

    def __init__(
        self,
        like: torch.Tensor,
        chunk: int,
        padding: Padding4,
        size: tuple[int, int] | None = None,
        *,
        channels_last: bool = False,
    ) -> None:
        _, channels, height, width = like.shape
        top, bottom, left, right = padding
        padded = (height + top + bottom, width + left + right)
        self.size = size or padded
        self.passthrough = padding == (0, 0, 0, 0) and self.size == (height, width)
        self.passthrough = self.passthrough and (
            not channels_last or like.is_contiguous(memory_format=torch.channels_last)
        )
        # Source rows/columns that land inside the buffer, and where they land.
        self.src = (slice(max(0, -top), height - max(0, -bottom)),
                    slice(max(0, -left), width - max(0, -right)))  # fmt: skip
        self.dst_origin = (max(0, top), max(0, left))
        self.buffer = None
        if not self.passthrough:
            layout = torch.channels_last if channels_last else torch.contiguous_format
            self.buffer = torch.zeros(
                (chunk, channels, *self.size),
                dtype=like.dtype,
                device=like.device,
            ).contiguous(memory_format=layout)

    def fill(self, chunk: torch.Tensor) -> torch.Tensor:
        """The chunk (m, C, H, W) padded (and cropped) into the buffer: (m, C, *size)."""
        if self.buffer is None:
            return chunk
        src = chunk[:, :, self.src[0], self.src[1]]
        top, left = self.dst_origin
        out = self.buffer[: chunk.shape[0]]
        out[:, :, top : top + src.shape[2], left : left + src.shape[3]].copy_(src)
        return out
