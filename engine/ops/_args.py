"""Argument normalisation and checks shared by the hand-written ops.

Every check raises `OpError` (a `ValueError`) whose message names the op, the argument and
the offending value, so a person reading it knows what to change.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from engine.errors import OpError
from engine.ops.arithmetic import effective_size
from engine.ops.window import Pair

IntOrPair = int | Sequence[int]


def as_pair(op: str, name: str, value: IntOrPair, *, minimum: int) -> Pair:
    """Normalise an int or 2-sequence to a pair of ints ≥ `minimum`."""
    if isinstance(value, bool):
        raise OpError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if isinstance(value, int):
        pair = (value, value)
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise OpError(f"{op}: {name} must contain ints, got {tuple(value)!r}")
        pair = (int(value[0]), int(value[1]))
    elif isinstance(value, Sequence) and len(value) == 1 and isinstance(value[0], int):
        pair = (int(value[0]), int(value[0]))
    else:
        raise OpError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        what = "negative" if minimum == 0 else f"less than {minimum}"
        raise OpError(f"{op}: {name} {pair} is {what}; every entry must be ≥ {minimum}")
    return pair


def as_batched(op: str, x: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """Accept (N, C, H, W) or unbatched (C, H, W) like torch; returns (4-D tensor, was_3d)."""
    if not isinstance(x, torch.Tensor):
        raise OpError(f"{op}: input must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 4:
        return x, False
    if x.dim() == 3:
        return x.unsqueeze(0), True
    raise OpError(
        f"{op}: input must be 4-D (N, C, H, W) or 3-D (C, H, W), "
        f"got {x.dim()}-D with shape {tuple(x.shape)}"
    )


def check_window_fits(
    op: str, padded: Pair, kernel: Pair, dilation: Pair, *, padding: Pair | None = None
) -> None:
    """Raise when the (effective) kernel is larger than the padded input."""
    effective = tuple(effective_size(k, d) for k, d in zip(kernel, dilation, strict=True))
    if effective[0] > padded[0] or effective[1] > padded[1]:
        dil = f" (effective {effective[0]}x{effective[1]} with dilation {dilation})"
        dil = dil if dilation != (1, 1) else ""
        pad = f" (after padding {padding})" if padding and padding != (0, 0) else ""
        raise OpError(
            f"{op}: kernel {kernel[0]}x{kernel[1]}{dil} is larger than the input "
            f"{padded[0]}x{padded[1]}{pad}"
        )
