"""Compare a hand-written op with its torch namesake: forward and every input gradient.

Shared by the test-suite (`tests/op_check.py`) and `cnnlab ops check`, so what the CLI
reports is exactly what the tests assert.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch.nn import functional as F

from engine.ops.conv import conv2d
from engine.ops.pool import avg_pool2d, max_pool2d

ARG_NAMES = ("input", "weight", "bias")
TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}


@dataclass
class OracleResult:
    """Largest absolute differences (scaled by the reference's magnitude when > 1)."""

    forward: float
    grads: dict[str, float] = field(default_factory=dict)
    tolerance: float = 0.0

    @property
    def worst(self) -> float:
        return max([self.forward, *self.grads.values()])

    @property
    def passed(self) -> bool:
        return self.worst <= self.tolerance


def _error(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    if ours.shape != theirs.shape:
        return float("inf")
    scale = max(1.0, theirs.abs().max().item()) if theirs.numel() else 1.0
    return (ours - theirs).abs().max().item() / scale if theirs.numel() else 0.0


def compare_with_torch(
    ours: Callable[..., torch.Tensor],
    theirs: Callable[..., torch.Tensor],
    shapes: Sequence[tuple[int, ...] | None],
    *,
    dtype: torch.dtype = torch.float64,
    seed: int = 0,
    device: str | torch.device = "cpu",
    **kwargs,
) -> OracleResult:
    """Call both ops on the same random tensors (one per shape; None passes None), on `device`.

    The same random grad_output is back-propagated through both, and each tensor argument's
    gradient is compared under its name (input, weight, bias).
    """
    generator = torch.Generator().manual_seed(seed)
    leaves = [
        None if s is None else torch.randn(s, generator=generator, dtype=dtype).to(device)
        for s in shapes
    ]
    results = []
    for op in (ours, theirs):
        args = [None if t is None else t.clone().requires_grad_() for t in leaves]
        with warnings.catch_warnings():  # torch warns that its own 'same' padding copies
            warnings.filterwarnings("ignore", message="Using padding='same'")
            out = op(*args, **kwargs)
        results.append((out, args))
    (out_ours, args_ours), (out_theirs, args_theirs) = results
    result = OracleResult(_error(out_ours, out_theirs), tolerance=TOLERANCE.get(dtype, 1e-5))
    if out_ours.shape != out_theirs.shape:
        return result
    grad_out = torch.randn(out_theirs.shape, generator=generator, dtype=dtype).to(device)
    wanted = [i for i, a in enumerate(args_theirs) if a is not None]
    grads_ours = torch.autograd.grad(out_ours, [args_ours[i] for i in wanted], grad_out)
    grads_theirs = torch.autograd.grad(out_theirs, [args_theirs[i] for i in wanted], grad_out)
    for i, g_ours, g_theirs in zip(wanted, grads_ours, grads_theirs, strict=True):
        result.grads[ARG_NAMES[i] if i < len(ARG_NAMES) else f"arg{i}"] = _error(g_ours, g_theirs)
    return result


@dataclass(frozen=True)
class CheckCase:
    """One row of `cnnlab ops check`: an op, its input shapes and keyword arguments."""

    op: str
    shapes: tuple[tuple[int, ...] | None, ...]
    kwargs: dict

    def describe(self) -> str:
        """Compact label, e.g. `conv2d x2x3x9x9 w4x3x3x3 +b s=2 p=1 g=2`."""
        x, *params = self.shapes
        parts = [self.op, "x" + "x".join(map(str, x))]
        if params:
            parts.append("w" + "x".join(map(str, params[0])))
            parts.append("+b" if len(params) > 1 and params[1] is not None else "-b")
        for key, value in self.kwargs.items():
            text = value if not isinstance(value, tuple) else ",".join(map(str, value))
            parts.append(f"{SHORT_NAMES.get(key, key)}={text}")
        return " ".join(parts)


SHORT_NAMES = {
    "kernel_size": "k",
    "stride": "s",
    "padding": "p",
    "dilation": "d",
    "groups": "g",
    "ceil_mode": "ceil",
    "count_include_pad": "cip",
    "divisor_override": "div",
}

OPS: dict[str, tuple[Callable, Callable]] = {
    "conv2d": (conv2d, F.conv2d),
    "max_pool2d": (max_pool2d, F.max_pool2d),
    "avg_pool2d": (avg_pool2d, F.avg_pool2d),
}


def check_grid() -> list[CheckCase]:
    """A fixed, small grid spanning kernels, strides, padding, dilation, groups and pooling."""
    conv = [
        ((2, 3, 9, 9), (4, 3, 3, 3), (4,), {}),
        ((1, 4, 8, 11), (6, 2, 2, 3), None, {"stride": (2, 1), "padding": 1, "groups": 2}),
        ((3, 4, 12, 10), (4, 1, 3, 3), (4,), {"dilation": 2, "padding": "same", "groups": 4}),
        ((2, 2, 11, 13), (3, 2, 5, 1), (3,), {"stride": 3, "padding": (3, 0)}),
        ((2, 3, 10, 10), (2, 3, 4, 4), (2,), {"padding": "same", "dilation": (1, 3)}),
        ((1, 3, 23, 23), (4, 3, 11, 11), (4,), {"stride": 4, "padding": 2}),
    ]
    pool = [
        ("max_pool2d", (2, 3, 9, 8), {"kernel_size": 2}),
        ("max_pool2d", (2, 3, 9, 8), {"kernel_size": 3, "stride": 2, "padding": 1}),
        ("max_pool2d", (1, 2, 10, 7), {"kernel_size": (3, 2), "dilation": 2, "ceil_mode": True}),
        ("avg_pool2d", (2, 3, 9, 8), {"kernel_size": 3, "stride": 2, "padding": 1}),
        (
            "avg_pool2d",
            (2, 3, 9, 8),
            {
                "kernel_size": 3,
                "stride": 2,
                "padding": 1,
                "ceil_mode": True,
                "count_include_pad": False,
            },
        ),
        ("avg_pool2d", (1, 2, 7, 10), {"kernel_size": (2, 4), "stride": (1, 3)}),
        ("avg_pool2d", (2, 2, 8, 8), {"kernel_size": 3, "padding": 1, "divisor_override": 4}),
    ]
    cases = [CheckCase("conv2d", (x, w, b), kw) for x, w, b, kw in conv]
    cases += [CheckCase(op, (x,), kw) for op, x, kw in pool]
    return cases


def run_case(case: CheckCase, dtype: torch.dtype = torch.float64) -> OracleResult:
    """Compare one grid case against torch."""
    ours, theirs = OPS[case.op]
    return compare_with_torch(ours, theirs, case.shapes, dtype=dtype, **case.kwargs)
