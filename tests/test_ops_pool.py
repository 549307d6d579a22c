"""Hand-written max/avg pooling against torch.nn.functional: forward and input gradient."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from op_check import check_op

from engine.errors import OpError
from engine.ops import avg_pool2d, max_pool2d

ARGS = ("kernel_size", "stride", "padding", "dilation")

MAX_CASES = [
    ((1, 1, 4, 4), {"kernel_size": 2}),
    ((2, 3, 9, 8), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ((3, 2, 7, 11), {"kernel_size": (2, 3), "stride": (1, 2)}),
    ((1, 2, 10, 7), {"kernel_size": (3, 2), "dilation": 2, "ceil_mode": True}),
    ((2, 1, 9, 9), {"kernel_size": 4, "stride": 3, "padding": 2, "ceil_mode": True}),
    ((1, 3, 8, 12), {"kernel_size": 5, "stride": 1, "padding": (2, 1), "dilation": (1, 3)}),
    ((2, 2, 11, 6), {"kernel_size": 1, "stride": 2}),
    ((1, 2, 6, 6), {"kernel_size": 3, "stride": None}),
]

AVG_CASES = [
    ((1, 1, 4, 4), {"kernel_size": 2}),
    ((2, 3, 9, 8), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ((2, 3, 9, 8), {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}),
    ((3, 2, 7, 11), {"kernel_size": (2, 4), "stride": (1, 3), "padding": (1, 2)}),
    ((1, 2, 10, 7), {"kernel_size": 3, "stride": 2, "ceil_mode": True}),
    ((2, 1, 9, 9), {"kernel_size": 4, "stride": 3, "padding": 2, "ceil_mode": True}),
    (
        (2, 1, 9, 9),
        {
            "kernel_size": 4,
            "stride": 3,
            "padding": 2,
            "ceil_mode": True,
            "count_include_pad": False,
        },
    ),
    ((1, 3, 5, 12), {"kernel_size": (5, 1)}),
]


@pytest.mark.parametrize(("x", "kwargs"), MAX_CASES)
def test_max_pool2d_matches_torch(x, kwargs):
    check_op(max_pool2d, F.max_pool2d, (x,), **kwargs)


@pytest.mark.parametrize(("x", "kwargs"), AVG_CASES)
def test_avg_pool2d_matches_torch(x, kwargs):
    check_op(avg_pool2d, F.avg_pool2d, (x,), **kwargs)


@pytest.mark.parametrize(("x", "kwargs"), [MAX_CASES[1], MAX_CASES[4]])
def test_max_pool2d_matches_torch_float32(x, kwargs):
    check_op(max_pool2d, F.max_pool2d, (x,), dtype=torch.float32, **kwargs)


@pytest.mark.parametrize(("x", "kwargs"), [AVG_CASES[2], AVG_CASES[6]])
def test_avg_pool2d_matches_torch_float32(x, kwargs):
    check_op(avg_pool2d, F.avg_pool2d, (x,), dtype=torch.float32, **kwargs)


@st.composite
def pool_configs(draw, with_dilation: bool):
    kernel = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if with_dilation else (1, 1)
    size = [
        max(1, (k - 1) * d + 1 - 2 * p) + draw(st.integers(0, 6))
        for k, d, p in zip(kernel, dilation, padding, strict=True)
    ]
    x = (draw(st.integers(1, 3)), draw(st.integers(1, 3)), *size)
    kw = {"kernel_size": kernel, "stride": stride, "padding": padding}
    kw["ceil_mode"] = draw(st.booleans())
    if with_dilation:
        kw["dilation"] = dilation
    else:
        kw["count_include_pad"] = draw(st.booleans())
    return x, kw


def sees_only_padding(x_shape, kwargs) -> bool:
    """Brute force over torch's own output grid: does a window miss every real pixel?"""
    out_shape = F.max_pool2d(torch.zeros(x_shape), **kwargs).shape
    for axis in range(2):
        size, n_out = x_shape[2 + axis], out_shape[2 + axis]
        k, s, p, d = (kwargs[name][axis] for name in ARGS)
        for o in range(n_out):
            if not any(0 <= o * s - p + t * d < size for t in range(k)):
                return True
    return False


@settings(max_examples=30, deadline=None)
@given(pool_configs(with_dilation=True))
def test_max_pool2d_random_valid_configs_match_torch(config):
    x, kwargs = config
    # torch answers -inf (and scatters out of bounds) for such windows; we raise instead.
    assume(not sees_only_padding(x, kwargs))
    check_op(max_pool2d, F.max_pool2d, (x,), **kwargs)


@settings(max_examples=30, deadline=None)
@given(pool_configs(with_dilation=False))
def test_avg_pool2d_random_valid_configs_match_torch(config):
    x, kwargs = config
    check_op(avg_pool2d, F.avg_pool2d, (x,), **kwargs)


def test_max_pool2d_pads_with_minus_infinity_not_zero():
    x = -torch.ones(1, 1, 3, 3)  # a zero pad would win every border window
    assert torch.equal(max_pool2d(x, 3, stride=1, padding=1), -torch.ones(1, 1, 3, 3))


def test_pooling_accepts_unbatched_input():
    x = torch.randn(2, 6, 6)
    assert torch.equal(max_pool2d(x, 2), F.max_pool2d(x, 2))
    torch.testing.assert_close(avg_pool2d(x, 3, 1, 1), F.avg_pool2d(x, 3, 1, 1))


@pytest.mark.parametrize("op", [max_pool2d, avg_pool2d])
@pytest.mark.parametrize(
    ("shape", "kwargs", "message"),
    [
        ((1, 1, 3, 3), {"kernel_size": 4}, "larger than the input"),
        ((1, 1, 6, 6), {"kernel_size": 3, "padding": 2}, "at most half the kernel"),
        ((1, 1, 6, 6), {"kernel_size": 2, "padding": -1}, "is negative"),
        ((1, 1, 6, 6), {"kernel_size": 0}, "kernel_size"),
        ((1, 1, 6, 6), {"kernel_size": 2, "stride": 0}, "stride"),
        ((6, 6), {"kernel_size": 2}, "got 2-D"),
    ],
)
def test_pooling_bad_arguments_raise_op_error(op, shape, kwargs, message):
    with pytest.raises(OpError, match=message):
        op(torch.randn(shape), **kwargs)


def test_max_pool2d_window_of_only_padding_raises_instead_of_minus_inf():
    x = torch.randn(1, 1, 1, 4)  # rows: pad, x, pad; dilation 2 picks both pads
    with pytest.raises(OpError, match="nothing but padding"):
        max_pool2d(x, 2, padding=(1, 0), dilation=(2, 1))


def test_pooling_rejects_integer_input():
    with pytest.raises(OpError, match="floating-point"):
        max_pool2d(torch.arange(16).view(1, 1, 4, 4), 2)
