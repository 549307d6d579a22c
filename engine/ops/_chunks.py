"""Batch chunking and scratch memory for the hand-written convolution.

The convolution expands its input before the matrix multiply (im2col columns are kh*kw
times the input). Two costs decide how much to expand at once, and they pull in opposite
directions (measured on 2-core Xeon and EPYC VMs):

* memory: expanding a whole batch writes hundreds of MB, page-faults fresh memory and reads
  it back from DRAM. A chunk of a few samples stays in cache instead. With one thread this
  wins: cache-sized chunks ran 1.3-1.8x faster than the whole batch.
* synchronisation: with several threads every op is a parallel region that ends when its
  slowest thread does. When the machine is busy, a descheduled thread stalls each region
  for a scheduler slice (~10 ms per region at load 6 on 2 cores), so many small ops lose
  badly (3-12x slower than one whole-batch pass). Since round 2 several threads do not share
  ops at all: `_parallel` gives each a slice of the batch and one thread, so the kernels
  see one thread and cache-sized chunks. The capped big chunks (`few_big_ops`) remain for
  a batch smaller than the thread count, and for accelerators.

Scratch buffers come from a per-thread workspace that keeps its largest buffers between
calls, so the whole-batch path does not page-fault them in again every step. Accelerators
expand the whole batch (they have the bandwidth and pay a launch per op) and rely on their
own caching allocator.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator

import torch

CPU_CHUNK_BYTES = 6 << 20  # one thread: scratch per chunk, about what L2 + some L3 hold
CPU_MAX_BYTES = 384 << 20  # several threads: scratch per chunk at most (the rest chunks)
DEVICE_CHUNK_BYTES = 512 << 20

_workspace = threading.local()


def few_big_ops(device: torch.device) -> bool:
    """True when fewer, larger ops pay (several CPU threads, or an accelerator)."""
    return device.type != "cpu" or torch.get_num_threads() > 1


def chunk_size(batch: int, bytes_per_sample: int, device: torch.device) -> int:
    """Samples per chunk: cache-sized with one CPU thread, else as many as the cap allows."""
    per_sample = max(1, bytes_per_sample)
    if device.type != "cpu":
        budget = DEVICE_CHUNK_BYTES
    else:
        budget = CPU_MAX_BYTES if few_big_ops(device) else CPU_CHUNK_BYTES
    return max(1, min(batch, budget // per_sample))


class Scratch:
    """Named flat scratch buffers for one call; `take` views the first part of one.

    On a CPU they come from this thread's workspace, which keeps the largest buffer seen per
    (name, dtype) between calls; they never escape a call, so reuse is safe. A call must
    not hold two `Scratch` objects with the same buffer names at once.
    """

    def __init__(self, like: torch.Tensor, **sizes: int) -> None:
        self.buffers = {name: _buffer(like, name, size) for name, size in sizes.items() if size > 0}

    def take(self, name: str, *shape: int) -> torch.Tensor:
        """A contiguous (*shape) view of buffer `name` (its first prod(shape) elements)."""
        return self.buffers[name][: math.prod(shape)].view(shape)


def _buffer(like: torch.Tensor, name: str, size: int) -> torch.Tensor:
    if like.device.type != "cpu":
        return like.new_empty(size)
    cache = getattr(_workspace, "buffers", None)
    if cache is None:
        cache = _workspace.buffers = {}
    key = (name, like.dtype)
    buffer = cache.get(key)
    if buffer is None or buffer.numel() < size:
        cache.pop(key, None)  # free the old one before allocating the larger one
        buffer = cache[key] = like.new_empty(size)
    return buffer


def release_workspace() -> None:
    """Free this thread's scratch buffers (they are kept between calls for speed)."""
    _workspace.buffers = {}


def chunk_ranges(batch: int, size: int) -> Iterator[tuple[int, int]]:
    """(start, stop) of each chunk of `size` samples (the last may be shorter)."""
    for start in range(0, batch, size):
        yield start, min(batch, start + size)
