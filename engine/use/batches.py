"""Running a model over many inputs in batches sized to the device's memory.

Batches start at the run's own batch size (a GPU starts larger) and halve whenever the
device runs out of memory, so a big model on a small GPU still gets through.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from engine.errors import CnnlabError
from engine.trainer.device import autocast

# A GPU's first try: inference keeps no activations for backward, so far more fit than in
# training.
GPU_START = 512


def start_batch(device: torch.device, run_batch_size: int) -> int:
    return max(run_batch_size, GPU_START) if device.type == "cuda" else run_batch_size


def _out_of_memory(error: BaseException) -> bool:
    return isinstance(error, torch.OutOfMemoryError) or "out of memory" in str(error).lower()


@torch.no_grad()
def forward_in_batches(
    forward: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    *,
    device: torch.device,
    amp_dtype: torch.dtype | None,
    batch_size: int,
) -> tuple[torch.Tensor, int]:
    """`forward` over `inputs` (any device) batch by batch, results on the CPU as float32,
    and the batch size that worked."""
    outputs: list[torch.Tensor] = []
    start = 0
    while start < inputs.shape[0]:
        batch = inputs[start : start + batch_size].to(device)
        try:
            with autocast(device, amp_dtype):
                result = forward(batch)
        except (RuntimeError, torch.OutOfMemoryError) as error:
            if not _out_of_memory(error):
                raise
            if batch_size == 1:
                raise CnnlabError(
                    f"one image does not fit in the memory of {device}; try --device cpu"
                ) from error
            batch_size = max(1, batch_size // 2)
            if device.type == "cuda":
                torch.cuda.empty_cache()
            continue
        outputs.append(result.float().cpu())
        start += batch.shape[0]
    if not outputs:
        return torch.empty(0), batch_size
    return torch.cat(outputs), batch_size
