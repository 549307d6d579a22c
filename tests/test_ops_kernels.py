"""The fast convolution kernels behind `engine.ops.conv2d`: which one runs, and that each is
exact (float64 against torch) across chunk boundaries, layouts and paddings."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.ops import _chunks, conv2d, im2col, max_pool2d, winograd
from engine.ops.conv import _kernel
from engine.ops.im2col import ConvGeometry


def _geometry(padding=(0, 0, 0, 0), stride=(1, 1), dilation=(1, 1), groups=1):
    return ConvGeometry(stride, padding, dilation, groups)


def _compare(x, w, b, **kwargs):
    """Forward and every gradient of ours vs torch, same random grad_output (float64)."""
    grad = None
    results = []
    for op in (conv2d, F.conv2d):
        leaves = [t.clone().requires_grad_() if t is not None else None for t in (x, w, b)]
        out = op(*leaves, **kwargs)
        if grad is None:
            grad = torch.randn(
                out.shape, dtype=out.dtype, generator=torch.Generator().manual_seed(1)
            )
        out.backward(grad)
        results.append((out, *[t.grad for t in leaves if t is not None]))
    for ours, theirs in zip(*results, strict=True):
        assert ours.shape == theirs.shape
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-11)
    return results[0][0]


@pytest.fixture
def kernels_used(monkeypatch):
    """The kernel modules `conv2d` dispatched to, in call order."""
    from engine.ops import conv

    used = []

    def spy(x, w, geo):
        used.append(_kernel(x, w, geo))
        return used[-1]

    monkeypatch.setattr(conv, "_kernel", spy)
    return used


@pytest.fixture
def tiny_chunks(monkeypatch):
    """A chunk budget of a few KB: every batch splits into several chunks (and a short last one)."""
    monkeypatch.setattr(_chunks, "CPU_CHUNK_BYTES", 6000)


@pytest.mark.parametrize(
    ("shape", "out_channels", "kwargs", "expected"),
    [
        ((2, 16, 10, 10), 16, {}, winograd),
        ((2, 16, 10, 10), 16, {"padding": 1}, winograd),
        ((2, 16, 10, 10), 16, {"dilation": 2}, im2col),  # measured slower as Winograd
        ((2, 16, 10, 10), 16, {"stride": 2}, im2col),
        ((2, 16, 10, 10), 16, {"groups": 2}, im2col),
        ((2, 3, 10, 10), 16, {}, im2col),  # 3 input channels: transforms outweigh the savings
        ((2, 16, 3, 3), 16, {}, im2col),  # a 1x1 output would round up to a 2x2 tile
    ],
)
def test_kernel_choice(shape, out_channels, kwargs, expected):
    x = torch.zeros(shape)
    groups = kwargs.get("groups", 1)
    w = torch.zeros(out_channels, shape[1] // groups, 3, 3)
    pad = kwargs.get("padding", 0)
    dilation = kwargs.get("dilation", 1)
    stride = kwargs.get("stride", 1)
    geo = _geometry((pad,) * 4, (stride, stride), (dilation, dilation), groups)
    assert _kernel(x, w, geo) is expected


def test_winograd_is_not_used_in_half_precision():
    x, w = torch.zeros(2, 16, 10, 10, dtype=torch.bfloat16), torch.zeros(16, 16, 3, 3)
    assert not winograd.usable(x, w.bfloat16(), _geometry())


@pytest.mark.parametrize(
    ("shape", "out_channels", "kwargs"),
    [
        ((5, 8, 9, 8), 9, {}),  # odd output sizes: tiles overhang and are cropped
        ((5, 8, 10, 11), 8, {"padding": 1}),
        ((3, 9, 8, 9), 8, {"padding": (2, 1)}),
        ((3, 8, 7, 7), 12, {"padding": "same"}),
        ((3, 8, 9, 9), 8, {"padding": 3}),  # more padding than the kernel reaches: grad crops
    ],
)
def test_winograd_matches_torch_in_float64_across_chunks(
    tiny_chunks, kernels_used, shape, out_channels, kwargs
):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(shape, dtype=torch.float64, generator=g)
    w = torch.randn(out_channels, shape[1], 3, 3, dtype=torch.float64, generator=g)
    b = torch.randn(out_channels, dtype=torch.float64, generator=g)
    _compare(x, w, b, **kwargs)
    assert kernels_used == [winograd, winograd]  # forward and backward


@pytest.mark.parametrize(
    ("shape", "weight", "kwargs"),
    [
        ((5, 4, 9, 8), (6, 4, 3, 3), {"stride": 2, "padding": 1}),
        ((5, 4, 12, 9), (6, 4, 3, 2), {"dilation": (2, 3), "padding": (2, 1)}),
        ((5, 6, 9, 9), (6, 2, 3, 3), {"groups": 3, "padding": "same"}),
        ((5, 3, 23, 23), (4, 3, 11, 11), {"stride": 4, "padding": 2}),
        ((5, 4, 7, 7), (6, 4, 1, 1), {}),
        ((5, 4, 9, 9), (6, 4, 3, 3), {"padding": 4}),
    ],
)
@pytest.mark.parametrize("channels_last", [False, True])
def test_im2col_matches_torch_in_float64_across_chunks(
    tiny_chunks, shape, weight, kwargs, channels_last
):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(shape, dtype=torch.float64, generator=g)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    w = torch.randn(weight, dtype=torch.float64, generator=g)
    b = torch.randn(weight[0], dtype=torch.float64, generator=g)
    out = _compare(x, w, b, **kwargs)
    assert out.is_contiguous(memory_format=torch.channels_last) == channels_last


def test_winograd_keeps_channels_last_and_matches_torch(tiny_chunks, kernels_used):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 8, 9, 10, dtype=torch.float64, generator=g)
    x = x.contiguous(memory_format=torch.channels_last)
    w = torch.randn(8, 8, 3, 3, dtype=torch.float64, generator=g)
    out = _compare(x, w, None, padding=1)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert kernels_used == [winograd, winograd]


def test_chunk_size_stays_within_the_budget_and_the_batch():
    cpu = torch.device("cpu")
    assert _chunks.chunk_size(100, _chunks.CPU_CHUNK_BYTES // 4, cpu) == 4
    assert _chunks.chunk_size(3, 1, cpu) == 3  # never more than the batch
    assert _chunks.chunk_size(100, 10 * _chunks.CPU_CHUNK_BYTES, cpu) == 1  # never zero
    assert list(_chunks.chunk_ranges(7, 3)) == [(0, 3), (3, 6), (6, 7)]


def test_max_pool_ties_send_the_gradient_to_the_first_maximum_like_torch():
    # After a ReLU whole windows are 0: torch gives each window's gradient to its first cell.
    x = torch.relu(torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)) - 1)
    for kwargs in ({"kernel_size": 2}, {"kernel_size": 3, "stride": 2, "padding": 1}):
        ours, theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
        max_pool2d(ours, **kwargs).sum().backward()
        F.max_pool2d(theirs, **kwargs).sum().backward()
        assert torch.equal(ours.grad, theirs.grad)
