"""`check_op`: one call compares a hand-written op with torch, forward and all gradients."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from engine.ops.oracle import OracleResult, compare_with_torch


def check_op(
    ours: Callable[..., torch.Tensor],
    theirs: Callable[..., torch.Tensor],
    shapes: Sequence[tuple[int, ...] | None],
    *,
    dtype: torch.dtype = torch.float64,
    seed: int = 0,
    device: str = "cpu",
    **kwargs,
) -> OracleResult:
    """Assert ours == theirs (forward, grad of every tensor argument) within dtype tolerance."""
    result = compare_with_torch(
        ours, theirs, shapes, dtype=dtype, seed=seed, device=device, **kwargs
    )
    expected = len([s for s in shapes if s is not None])
    assert len(result.grads) == expected, f"output shapes differ: {result}"
    assert result.passed, f"{ours.__name__}{tuple(shapes)} {kwargs}: {result}"
    return result
