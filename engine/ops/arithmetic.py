"""Convolution arithmetic: output sizes, receptive fields and the HDC gridding check.

Pure functions of integers (plus one small NumPy array for `gridding_map`), so the dashboard,
the model builders and `cnnlab hdc` can reason about a stack of layers without running it
(or importing torch). `output_size` is the one copy of the window-count formula that conv,
pooling (`engine.ops.window`) and these tools share.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import reduce

import numpy as np

from engine.errors import OpError

LayerSpec = int | Sequence[int] | Mapping[str, int]
Pair = tuple[int, int]


def effective_size(kernel: int, dilation: int = 1) -> int:
    """Span of a dilated kernel along one axis: d(k − 1) + 1 (dilation adds no weights)."""
    return dilation * (kernel - 1) + 1


def output_size(
    size: int,
    kernel: int,
    stride: int = 1,
    padding: int | Pair = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> int:
    """Window positions along one axis, exactly as torch's conv and pooling count them.

    ⌊(size + before + after − d(k − 1) − 1) / s⌋ + 1, with `padding` one int (both sides) or
    (before, after). In ceil mode the last window may hang over the end but must start
    inside the input or the leading padding (torch drops one made only of trailing padding).
    A result below 1 means the window does not fit; callers turn that into an error.
    """
    before, after = (padding, padding) if isinstance(padding, int) else padding
    span = size + before + after - effective_size(kernel, dilation)
    if span < 0:
        return 0
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + before:
        out -= 1
    return out


def _positive(name: str, value: int, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise OpError(f"{name} must be an int ≥ {minimum}, got {value!r}")
    return value


def effective_kernel_size(kernel_size: int, dilation: int = 1) -> int:
    """Span of a dilated kernel: (n - 1) * d + 1 — dilation spreads taps, adds no weights."""
    _positive("kernel_size", kernel_size)
    _positive("dilation", dilation)
    return effective_size(kernel_size, dilation)


def conv_output_size(
    size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """Output length of a convolution along one axis: ⌊(size + 2p − d(k−1) − 1) / s⌋ + 1."""
    _positive("size", size)
    _positive("stride", stride)
    _positive("padding", padding, minimum=0)
    effective = effective_kernel_size(kernel_size, dilation)
    out = output_size(size, kernel_size, stride, padding, dilation)
    if out < 1:
        raise OpError(
            f"kernel {kernel_size} (effective {effective}) "
            f"is larger than the input {size} after padding {padding}"
        )
    return out


def _layer(spec: LayerSpec) -> tuple[int, int, int]:
    """(kernel_size, stride, dilation) from an int, a (k[, s[, d]]) tuple or a mapping."""
    if isinstance(spec, Mapping):
        k, s, d = spec.get("kernel_size"), spec.get("stride", 1), spec.get("dilation", 1)
    elif isinstance(spec, int) and not isinstance(spec, bool):
        k, s, d = spec, 1, 1
    elif isinstance(spec, Sequence) and not isinstance(spec, str) and 1 <= len(spec) <= 3:
        k, s, d = (*spec, 1, 1)[:3]
    else:
        raise OpError(
            f"a layer is an int kernel size, (k, stride, dilation) or a dict; got {spec!r}"
        )
    return _positive("kernel_size", k), _positive("stride", s), _positive("dilation", d)


def receptive_field(layers: Iterable[LayerSpec]) -> int:
    """Input pixels (along one axis) that one output pixel of the stack can see.

    Each layer adds (effective kernel − 1) times the product of the strides before it.
    """
    field, jump = 1, 1
    for spec in layers:
        k, s, d = _layer(spec)
        field += (effective_kernel_size(k, d) - 1) * jump
        jump *= s
    return field


@dataclass(frozen=True)
class HDCReport:
    """The lab's Hybrid Dilated Convolution check of one stack of dilation rates.

    `m_values[i]` is M_{i+1} of the lab's recursion (M_n = r_n); `ok` is the verdict and
    `reasons` explains every failed rule in words.
    """

    dilations: tuple[int, ...]
    kernel_size: int
    m_values: tuple[int, ...]
    ok: bool
    reasons: tuple[str, ...]

    def table(self) -> list[tuple[int, int, int]]:
        """Rows (layer number from 1, dilation r_i, M_i) for printing or drawing."""
        return [
            (i + 1, r, m)
            for i, (r, m) in enumerate(zip(self.dilations, self.m_values, strict=True))
        ]


def hdc_check(dilations: Sequence[int], kernel_size: int) -> HDCReport:
    """Check a stack of dilation rates against the HDC rules from the lab.

    Rules: the rates must not share a common factor > 1 (or the stack grids), and
    M_2 ≤ k where M_i = max[M_{i+1} − 2r_i, M_{i+1} − 2(M_{i+1} − r_i), r_i], M_n = r_n.
    """
    rates = tuple(dilations)
    if not rates:
        raise OpError("hdc_check needs at least one dilation rate")
    for r in rates:
        _positive("dilation rate", r)
    _positive("kernel_size", kernel_size)
    m = [0] * len(rates)
    m[-1] = rates[-1]
    for i in range(len(rates) - 2, -1, -1):
        nxt, r = m[i + 1], rates[i]
        m[i] = max(nxt - 2 * r, nxt - 2 * (nxt - r), r)
    reasons = []
    factor = reduce(math.gcd, rates)
    if factor > 1:
        reasons.append(
            f"dilation rates {list(rates)} share the common factor {factor}: "
            f"every layer skips pixels off a {factor}-pixel grid (gridding)"
        )
    if len(rates) >= 2 and m[1] > kernel_size:
        reasons.append(f"M_2 = {m[1]} > k = {kernel_size}: the second layer leaves holes")
    return HDCReport(rates, kernel_size, tuple(m), not reasons, tuple(reasons))


def gridding_map(dilations: Sequence[int], kernel_size: int) -> np.ndarray:
    """How many paths reach each input pixel from ONE output pixel of the stack.

    A (R, R) int64 array, R the stack's receptive field; zeros are the pixels a gridded
    stack misses (the lab's "stacked dilation 2 misses pixels" picture). Built by spreading
    a single pixel back through each layer's dilated all-ones kernel.
    """
    rates = tuple(dilations)
    if not rates:
        raise OpError("gridding_map needs at least one dilation rate")
    k = _positive("kernel_size", kernel_size)
    counts = np.ones((1, 1), dtype=np.int64)
    for r in reversed(rates):
        _positive("dilation rate", r)
        grow = effective_kernel_size(k, r) - 1
        h, w = counts.shape
        spread = np.zeros((h + grow, w + grow), dtype=np.int64)
        for i in range(k):
            for j in range(k):
                spread[i * r : i * r + h, j * r : j * r + w] += counts
        counts = spread
    return counts
