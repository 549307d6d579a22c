"""Hand-written max/avg pooling against torch.nn.functional: forward and input gradient."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from op_check import check_op

from engine.errors import OpError
from engine.ops.pool import avg_pool2d, max_pool2d, max_unpool2d

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


# --- torch's full signature: indices, unpooling, divisor_override, every argument form ---


@pytest.mark.parametrize(("x", "kwargs"), MAX_CASES)
def test_max_pool2d_return_indices_equal_torch(x, kwargs):
    inputs = torch.randn(x, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    ours, ours_index = max_pool2d(inputs, **kwargs, return_indices=True)
    theirs, their_index = F.max_pool2d(inputs, **kwargs, return_indices=True)
    assert torch.equal(ours, theirs)
    assert ours_index.dtype == torch.int64 and torch.equal(ours_index, their_index)


@settings(max_examples=30, deadline=None)
@given(pool_configs(with_dilation=True))
def test_max_pool2d_random_configs_give_torchs_indices_even_with_ties(config):
    shape, kwargs = config
    assume(not sees_only_padding(shape, kwargs))
    g = torch.Generator().manual_seed(0)
    x = torch.randint(-2, 3, shape, generator=g).double()  # few values: many tied windows
    ours, ours_index = max_pool2d(x, **kwargs, return_indices=True)
    theirs, their_index = F.max_pool2d(x, **kwargs, return_indices=True)
    assert torch.equal(ours, theirs) and torch.equal(ours_index, their_index)


def test_max_pool2d_propagates_nan_to_torchs_index():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    x[0, 0, 0, 1] = x[0, 0, 3, 3] = float("nan")
    ours, ours_index = max_pool2d(x, 2, return_indices=True)
    theirs, their_index = F.max_pool2d(x, 2, return_indices=True)
    assert torch.equal(ours.isnan(), theirs.isnan())
    assert torch.equal(ours_index, their_index)


def _unpool_case(shape, kernel, stride=None, padding=0):
    """A max_pool2d output and its indices (torch's) to unpool, float64."""
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    return F.max_pool2d(x, kernel, stride, padding, return_indices=True)


UNPOOL_CASES = [
    ((2, 3, 8, 8), {"kernel_size": 2}),
    ((1, 2, 9, 7), {"kernel_size": 3, "stride": 3, "output_size": (9, 7)}),
    ((2, 2, 10, 10), {"kernel_size": (2, 3), "stride": (2, 3), "padding": (1, 1)}),
    ((1, 3, 7, 9), {"kernel_size": 2, "stride": 2, "output_size": (7, 9)}),
    ((1, 1, 7, 9), {"kernel_size": 2, "output_size": torch.Size([1, 1, 7, 9])}),
]


@pytest.mark.parametrize(("shape", "kwargs"), UNPOOL_CASES)
def test_max_unpool2d_matches_torch_forward_and_gradient(shape, kwargs):
    pool_args = {k: v for k, v in kwargs.items() if k != "output_size"}
    pooled, index = _unpool_case(shape, pool_args["kernel_size"], pool_args.get("stride"),
                                 pool_args.get("padding", 0))  # fmt: skip
    results = []
    for op in (max_unpool2d, F.max_unpool2d):
        leaf = pooled.clone().requires_grad_()
        out = op(leaf, index, **kwargs)
        out.backward(torch.arange(out.numel(), dtype=out.dtype).view(out.shape))
        results.append((out, leaf.grad))
    for ours, theirs in zip(*results, strict=True):
        assert torch.equal(ours, theirs)


def test_max_unpool2d_inverts_max_pool2d_on_unbatched_input_and_gradchecks():
    x = torch.randn(2, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    pooled, index = max_pool2d(x, 2, return_indices=True)
    assert pooled.shape == index.shape == (2, 3, 3)
    restored = max_unpool2d(pooled, index, 2)
    assert torch.equal(restored, F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2))
    assert torch.equal(max_pool2d(restored, 2), pooled)  # the maxima are back where they were
    leaf = pooled.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda t: max_unpool2d(t, index, 2), (leaf,))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"output_size": (10, 8)}, "between 6 and 10"),
        ({"output_size": (8, 8, 8)}, "2 or 4 numbers"),
        ({"index": "float"}, "int64"),
        ({"index": "too big"}, "outside the 8x8 output"),
        ({"index": "wrong shape"}, "must have the input's shape"),
    ],
)
def test_max_unpool2d_bad_arguments_raise_op_error(kwargs, message):
    pooled, index = _unpool_case((1, 1, 8, 8), 2)
    if kwargs.get("index") == "float":
        index = index.double()
    elif kwargs.get("index") == "too big":
        index = index + 64
    elif kwargs.get("index") == "wrong shape":
        index = index[..., :2]
    with pytest.raises(OpError, match=message):
        max_unpool2d(pooled, index, 2, output_size=kwargs.get("output_size"))


DIVISOR_CASES = [
    ((2, 3, 9, 8), {"kernel_size": 3, "stride": 2, "padding": 1, "divisor_override": 2}),
    ((1, 2, 7, 7), {"kernel_size": 2, "ceil_mode": True, "divisor_override": 3}),
    ((2, 1, 6, 5), {"kernel_size": (2, 3), "count_include_pad": False, "divisor_override": 7}),
]


@pytest.mark.parametrize(("x", "kwargs"), DIVISOR_CASES)
def test_avg_pool2d_divisor_override_matches_torch(x, kwargs):
    check_op(avg_pool2d, F.avg_pool2d, (x,), **kwargs)


def test_avg_pool2d_divisor_override_gradchecks_and_rejects_zero():
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: avg_pool2d(t, 3, 1, 1, divisor_override=5), (x,))
    with pytest.raises(OpError, match="divisor_override"):
        avg_pool2d(x, 2, divisor_override=0)


def test_max_pool2d_gradchecks_with_padding_dilation_and_ceil_mode():
    x = torch.randn(1, 2, 7, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda t: max_pool2d(t, 3, 2, 1, dilation=(1, 2), ceil_mode=True), (x,)
    )


# Every way torch lets you spell the same arguments: int, pair, one-element tuple, list,
# stride None or an empty sequence (= the kernel size).
ARGUMENT_FORMS = [
    {"kernel_size": 2},
    {"kernel_size": (2,), "stride": None},
    {"kernel_size": [3, 2], "stride": (), "padding": (1,)},
    {"kernel_size": (3,), "stride": [2], "padding": [1, 0]},
    {"kernel_size": 3, "stride": (1, 2), "padding": 1, "ceil_mode": True},
]


@pytest.mark.parametrize("kwargs", ARGUMENT_FORMS)
@pytest.mark.parametrize("unbatched", [False, True], ids=["batched", "unbatched"])
def test_pooling_accepts_every_argument_form_torch_does(kwargs, unbatched):
    shape = (3, 7, 8) if unbatched else (2, 3, 7, 8)
    check_op(max_pool2d, F.max_pool2d, (shape,), **kwargs)
    check_op(avg_pool2d, F.avg_pool2d, (shape,), **kwargs)
    x = torch.randn(shape, dtype=torch.float64)
    ours = max_pool2d(x, **kwargs, return_indices=True)
    theirs = F.max_pool2d(x, **kwargs, return_indices=True)
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))


def test_pooling_positional_arguments_follow_torchs_order():
    x = torch.randn(2, 3, 9, 9, dtype=torch.float64)
    out, index = max_pool2d(x, 3, 2, 1, 1, True, True)  # ..., ceil_mode, return_indices
    theirs, their_index = F.max_pool2d(x, 3, 2, 1, 1, True, True)
    assert torch.equal(out, theirs) and torch.equal(index, their_index)
    torch.testing.assert_close(avg_pool2d(x, 3, 2, 1, True, False, 4),
                               F.avg_pool2d(x, 3, 2, 1, True, False, 4))  # fmt: skip
