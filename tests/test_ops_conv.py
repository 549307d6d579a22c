"""Hand-written conv2d against torch.nn.functional.conv2d: forward and all gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from op_check import check_op

from engine.errors import OpError
from engine.ops.conv import conv2d

# (input, weight, bias or None, kwargs): kernels 1-5 incl. non-square, stride 1-3, padding
# 0-3 / 'same' / 'valid', dilation 1-3, groups 1/2/4, batch 1-3, non-square inputs.
CONV_CASES = [
    ((1, 1, 5, 5), (1, 1, 1, 1), None, {}),
    ((2, 3, 9, 9), (4, 3, 3, 3), (4,), {}),
    ((3, 2, 7, 10), (5, 2, 2, 3), (5,), {"stride": 2}),
    ((1, 3, 12, 8), (2, 3, 5, 5), (2,), {"padding": 3}),
    ((2, 4, 11, 9), (4, 2, 3, 1), None, {"groups": 2, "stride": (1, 2)}),
    ((1, 4, 10, 10), (8, 1, 3, 3), (8,), {"groups": 4, "padding": 1}),
    ((2, 2, 13, 11), (3, 2, 3, 3), (3,), {"dilation": 2, "padding": 2}),
    ((1, 3, 16, 14), (2, 3, 3, 2), (2,), {"dilation": (3, 2), "stride": 3, "padding": (1, 3)}),
    ((2, 3, 9, 7), (4, 3, 4, 4), (4,), {"padding": "same"}),
    ((3, 2, 8, 9), (2, 2, 2, 5), None, {"padding": "same", "dilation": (3, 1)}),
    ((2, 4, 10, 12), (4, 2, 3, 3), (4,), {"padding": "same", "dilation": 3, "groups": 2}),
    ((1, 2, 6, 7), (3, 2, 3, 3), (3,), {"padding": "valid"}),
    ((2, 8, 9, 9), (4, 2, 1, 1), (4,), {"groups": 4, "stride": 3}),
    ((1, 3, 23, 23), (4, 3, 11, 11), (4,), {"stride": 4, "padding": 2}),
    ((3, 1, 5, 6), (1, 1, 5, 6), (1,), {}),  # kernel exactly fills the input
    ((2, 2, 4, 15), (2, 2, 1, 4), (2,), {"stride": (1, 3), "dilation": (1, 2), "padding": 3}),
    ((1, 4, 7, 7), (4, 4, 2, 2), (4,), {"stride": 2, "padding": 1, "dilation": 2}),
]


@pytest.mark.parametrize(("x", "w", "b", "kwargs"), CONV_CASES)
def test_conv2d_matches_torch_float64(x, w, b, kwargs):
    check_op(conv2d, F.conv2d, (x, w, b), **kwargs)


@pytest.mark.parametrize(("x", "w", "b", "kwargs"), CONV_CASES[1:17:3])
def test_conv2d_matches_torch_float32(x, w, b, kwargs):
    check_op(conv2d, F.conv2d, (x, w, b), dtype=torch.float32, **kwargs)


@st.composite
def conv_configs(draw):
    groups = draw(st.sampled_from([1, 2, 4]))
    kernel = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    same = draw(st.booleans()) and draw(st.booleans())
    stride = (1, 1) if same else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = "same" if same else (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    pads = (0, 0) if same else padding
    # Input at least as large as the effective kernel once padded.
    size = [
        max(1, (k - 1) * d + 1 - 2 * p) + draw(st.integers(0, 6))
        for k, d, p in zip(kernel, dilation, pads, strict=True)
    ]
    channels, out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    x = (draw(st.integers(1, 3)), channels, *size)
    w = (out, channels // groups, *kernel)
    b = (out,) if draw(st.booleans()) else None
    kw = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    return x, w, b, kw


@settings(max_examples=40, deadline=None)
@given(conv_configs())
def test_conv2d_random_valid_configs_match_torch(config):
    x, w, b, kwargs = config
    check_op(conv2d, F.conv2d, (x, w, b), **kwargs)


def test_conv2d_accepts_unbatched_input_like_torch():
    x, w = torch.randn(3, 6, 7, dtype=torch.float64), torch.randn(2, 3, 3, 3, dtype=torch.float64)
    assert conv2d(x, w, padding=1).shape == (2, 6, 7)
    torch.testing.assert_close(conv2d(x, w, padding=1), F.conv2d(x, w, padding=1))


@pytest.mark.parametrize(
    "kwargs",
    [{"stride": 2, "padding": 1}, {"padding": "same", "dilation": 2, "groups": 2}, {"stride": 3}],
)
def test_conv2d_channels_last_input_gives_same_values_and_grads(kwargs):
    def conv2d_nhwc(x, *args, **kw):
        return conv2d(x.contiguous(memory_format=torch.channels_last), *args, **kw)

    w = (6, 4 // kwargs.get("groups", 1), 3, 3)
    check_op(conv2d_nhwc, F.conv2d, ((2, 4, 9, 9), w, (6,)), **kwargs)
    x = torch.randn(2, 4, 9, 9).contiguous(memory_format=torch.channels_last)
    assert conv2d(x, torch.randn(w), **kwargs).is_contiguous(memory_format=torch.channels_last)


def test_conv2d_under_autocast_casts_like_torch_and_returns_parameter_dtype_grads():
    x = torch.randn(2, 3, 8, 8)
    w = torch.randn(4, 3, 3, 3, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours, theirs = conv2d(x, w, padding=1), F.conv2d(x, w, padding=1)
    assert ours.dtype == theirs.dtype == torch.bfloat16
    torch.testing.assert_close(ours.float(), theirs.float(), atol=0.1, rtol=0.02)
    ours.float().sum().backward()
    assert w.grad is not None and w.grad.dtype == torch.float32


def test_conv2d_skips_gradients_nobody_asked_for():
    x = torch.randn(1, 2, 6, 6, requires_grad=True)
    w = torch.randn(3, 2, 3, 3)  # frozen weight
    conv2d(x, w).sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape
    assert w.grad is None


def test_conv2d_does_not_call_torch_convolution(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("torch convolution was called")

    for name in ("conv2d", "convolution", "conv_transpose2d", "_convolution", "conv2d_input"):
        if hasattr(torch, name):
            monkeypatch.setattr(torch, name, forbidden)
    monkeypatch.setattr(F, "conv2d", forbidden)
    x = torch.randn(1, 2, 8, 8, requires_grad=True)
    w = torch.randn(2, 2, 3, 3, requires_grad=True)
    conv2d(x, w, stride=2).sum().backward()
    conv2d(x, w, padding="same").sum().backward()
    assert x.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("x", "w", "b", "kwargs", "message"),
    [
        ((1, 1, 4, 4), (1, 1, 5, 5), None, {}, "larger than the input"),
        ((1, 1, 4, 4), (1, 1, 3, 3), None, {"dilation": 2}, "effective 5x5"),
        ((1, 3, 8, 8), (4, 1, 3, 3), None, {"groups": 2}, "not divisible by groups"),
        ((1, 4, 8, 8), (3, 2, 3, 3), None, {"groups": 2}, "out_channels 3"),
        ((1, 4, 8, 8), (4, 1, 3, 3), None, {"groups": 2}, "input has 4"),
        ((1, 1, 8, 8), (1, 1, 3, 3), None, {"padding": -1}, "padding (-1, -1) is negative"),
        ((1, 1, 8, 8), (1, 1, 3, 3), None, {"stride": 0}, "stride"),
        ((1, 1, 8, 8), (1, 1, 3, 3), None, {"dilation": (1, 0)}, "dilation"),
        ((1, 1, 8, 8), (1, 1, 3, 3), None, {"padding": "full"}, "'same' or 'valid'"),
        ((1, 1, 8, 8), (1, 1, 3, 3), None, {"padding": "same", "stride": 2}, "needs stride 1"),
        ((1, 1, 8, 8), (1, 1, 3, 3), None, {"groups": 0}, "groups"),
        ((8, 8), (1, 1, 3, 3), None, {}, "got 2-D"),
        ((1, 1, 1, 8, 8), (1, 1, 3, 3), None, {}, "got 5-D"),
        ((1, 1, 8, 8), (1, 3, 3), None, {}, "weight must be 4-D"),
        ((1, 2, 8, 8), (3, 2, 3, 3), (2,), {}, "bias must have shape (3,)"),
    ],
)
def test_conv2d_bad_arguments_raise_op_error_naming_the_problem(x, w, b, kwargs, message):
    args = [torch.randn(s) if s is not None else None for s in (x, w, b)]
    with pytest.raises(OpError) as err:
        conv2d(*args, **kwargs)
    assert message in str(err.value)
    assert isinstance(err.value, ValueError)


def test_conv2d_rejects_mixed_dtypes():
    with pytest.raises(OpError, match="share dtype"):
        conv2d(torch.randn(1, 1, 5, 5), torch.randn(1, 1, 3, 3, dtype=torch.float64))
