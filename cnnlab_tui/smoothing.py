"""TensorBoard's scalar smoothing, so Live's per-batch loss reads as a trend over its noise.

An exponential moving average with debias: the first points are not pulled towards zero
(TensorBoard's `resampleAndSmooth`, the "Smoothing" slider)."""

from __future__ import annotations

import math
from collections.abc import Sequence

SMOOTHING = 0.6  # TensorBoard's default slider value


def ema_debiased(values: Sequence[float], weight: float = SMOOTHING) -> list[float]:
    """Smoothed values, one per input: `last = last*w + (1-w)*v`, divided by `1 - w**n`.

    A non-finite value (a diverged batch) is passed through and does not move the average,
    as TensorBoard does."""
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight must be in [0, 1), not {weight}")
    last, count, smoothed = 0.0, 0, []
    for value in values:
        value = float(value)
        if not math.isfinite(value):
            smoothed.append(value)
            continue
        last = last * weight + (1.0 - weight) * value
        count += 1
        smoothed.append(last / (1.0 - weight**count))
    return smoothed
