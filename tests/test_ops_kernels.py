"""The chunked im2col kernel behind `engine.ops.conv2d`: exact (float64 against torch) across
chunk boundaries, thread policies, layouts and paddings, through each of its ways to
grad_input (transposed convolution, stride phases, col2im) and both forward layouts; the
oneDNN and torch.mm products agree with torch in float32; its scratch workspace; no torch
conv/pool/unfold/fold call anywhere; pooling ties."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.ops import _chunks, _gemm, im2col, window
from engine.ops.conv import conv2d
from engine.ops.pool import avg_pool2d, max_pool2d, max_unpool2d


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


@pytest.fixture(params=[1, 2], ids=["1-thread", "2-threads"])
def tiny_chunks(request, monkeypatch):
    """Chunk budgets of a few KB: every batch splits into several chunks (and a short last
    one), under both policies (one thread: cache-sized chunks; several: the capped ones)."""
    monkeypatch.setattr(_chunks, "CPU_CHUNK_BYTES", 6000)
    monkeypatch.setattr(_chunks, "CPU_MAX_BYTES", 9000)
    threads = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(threads)


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


def test_chunk_size_follows_the_thread_policy_within_the_batch(tiny_chunks):
    cpu = torch.device("cpu")
    budget = _chunks.CPU_CHUNK_BYTES if tiny_chunks == 1 else _chunks.CPU_MAX_BYTES
    assert _chunks.few_big_ops(cpu) == (tiny_chunks > 1)
    assert _chunks.chunk_size(100, budget // 4, cpu) == 4
    assert _chunks.chunk_size(3, 1, cpu) == 3  # never more than the batch
    assert _chunks.chunk_size(100, 10 * budget, cpu) == 1  # never zero
    assert list(_chunks.chunk_ranges(7, 3)) == [(0, 3), (3, 6), (6, 7)]


def test_workspace_reuses_a_large_enough_buffer_and_can_be_released():
    like = torch.zeros(1)
    first = _chunks.Scratch(like, cols=1000).take("cols", 10, 100)
    again = _chunks.Scratch(like, cols=500).take("cols", 500)
    assert again.data_ptr() == first.data_ptr()  # no new allocation for a smaller need
    bigger = _chunks.Scratch(like, cols=5000).take("cols", 5000)
    assert bigger.numel() == 5000
    _chunks.release_workspace()
    assert _chunks.Scratch(like, cols=10).buffers["cols"].numel() == 10


def test_max_pool_ties_send_the_gradient_to_the_first_maximum_like_torch():
    # After a ReLU whole windows are 0: torch gives each window's gradient to its first cell.
    x = torch.relu(torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)) - 1)
    for kwargs in ({"kernel_size": 2}, {"kernel_size": 3, "stride": 2, "padding": 1}):
        ours, theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
        max_pool2d(ours, **kwargs).sum().backward()
        F.max_pool2d(theirs, **kwargs).sum().backward()
        assert torch.equal(ours.grad, theirs.grad)


# Enough channels for the channels-last rows and the grad_input convolutions; forcing a
# method exercises it on shapes the automatic choice would send elsewhere.
METHOD_CASES = [
    ((3, 16, 9, 8), (16, 16, 3, 3), {"padding": 1}),
    ((3, 16, 11, 10), (8, 16, 3, 2), {"stride": 2, "padding": (1, 0)}),
    ((2, 16, 13, 12), (16, 8, 3, 3), {"stride": (3, 2), "groups": 2}),
    ((2, 16, 23, 23), (16, 16, 5, 5), {"stride": 4, "padding": 2}),
    ((3, 16, 12, 9), (8, 16, 3, 3), {"dilation": (2, 3), "padding": 2}),
    ((2, 16, 13, 11), (8, 16, 3, 3), {"dilation": 2, "stride": 2}),
    ((2, 16, 9, 10), (8, 16, 1, 1), {"stride": 2}),  # phases no tap reaches (zeros)
    ((2, 16, 11, 10), (8, 16, 2, 2), {"stride": 3, "padding": (0, 1)}),  # cropping phases
]


def _valid(method: str, kwargs: dict) -> bool:
    dilated = kwargs.get("dilation", 1) != 1
    strided = kwargs.get("stride", 1) != 1
    return {"transposed": not strided, "phases": not dilated, "col2im": True}[method]


@pytest.mark.parametrize(
    ("method", "shape", "weight", "kwargs"),
    [
        (method, *case)
        for method in ("transposed", "phases", "col2im")
        for case in METHOD_CASES
        if _valid(method, case[2])
    ],
)
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
def test_every_grad_input_method_matches_torch_in_float64(
    tiny_chunks, monkeypatch, method, shape, weight, kwargs, channels_last
):
    monkeypatch.setattr(im2col, "GRAD_INPUT_METHOD", method)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(shape, dtype=torch.float64, generator=g)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    w = torch.randn(weight, dtype=torch.float64, generator=g)
    _compare(x, w, torch.randn(weight[0], dtype=torch.float64, generator=g), **kwargs)


def test_the_automatic_grad_input_choice():
    def method(x, w, **kwargs):
        geo = im2col.ConvGeometry(
            kwargs.get("stride", (1, 1)), kwargs.get("padding", (0, 0, 0, 0)),
            kwargs.get("dilation", (1, 1)), 1,
        )  # fmt: skip
        return im2col.grad_input_method(torch.empty(x), torch.empty(w), geo)

    assert method((2, 64, 28, 28), (128, 64, 3, 3)) == "transposed"
    assert method((2, 64, 26, 26), (128, 64, 3, 3), dilation=(5, 5)) == "col2im"  # reach
    assert method((2, 64, 16, 16), (128, 64, 3, 3), stride=(2, 2)) == "phases"
    assert method((2, 3, 32, 32), (32, 3, 3, 3)) == "col2im"  # 3 channels to write back


@pytest.mark.parametrize("few_channels", [0, 1000], ids=["rows", "per-sample"])
def test_both_forward_layouts_match_torch(tiny_chunks, monkeypatch, few_channels):
    monkeypatch.setattr(im2col, "FEW_CHANNELS", few_channels)
    g = torch.Generator().manual_seed(4)
    x = torch.randn(5, 6, 10, 9, dtype=torch.float64, generator=g)
    for kwargs in ({"padding": 1, "stride": 2}, {"groups": 3, "dilation": 2}):
        w = torch.randn(6, 6 // kwargs.get("groups", 1), 3, 3, dtype=torch.float64, generator=g)
        _compare(x, w, torch.randn(6, dtype=torch.float64, generator=g), **kwargs)


@pytest.mark.parametrize("onednn", [True, False], ids=["onednn", "torch.mm"])
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
def test_float32_products_on_either_gemm_match_torch(monkeypatch, onednn, channels_last):
    monkeypatch.setattr(_gemm, "ONEDNN", onednn)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(4, 32, 12, 12, generator=g)
    x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
    w, b = torch.randn(48, 32, 3, 3, generator=g), torch.randn(48, generator=g)
    assert _gemm.uses_onednn(x) == (onednn and torch.backends.mkldnn.is_available())
    outs = []
    for op in (conv2d, F.conv2d):
        leaves = [t.clone().requires_grad_() for t in (x, w, b)]
        out = op(*leaves, stride=2, padding=1)
        out.backward(torch.ones_like(out))
        outs.append([out, *(t.grad for t in leaves)])
    for ours, theirs in zip(*outs, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


def test_no_torch_convolution_pooling_unfold_or_fold_is_called(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("a torch conv/pool/unfold/fold kernel was called")

    for name in ("conv2d", "conv_transpose2d", "unfold", "fold", "max_pool2d", "avg_pool2d",
                 "max_pool2d_with_indices", "max_unpool2d"):  # fmt: skip
        if hasattr(F, name):
            monkeypatch.setattr(F, name, forbidden)
    for name in ("conv2d", "convolution", "_convolution", "max_pool2d", "avg_pool2d",
                 "max_pool2d_with_indices", "im2col", "col2im"):  # fmt: skip
        if hasattr(torch, name):
            monkeypatch.setattr(torch, name, forbidden)
    x = torch.randn(2, 16, 12, 12, requires_grad=True)
    for kwargs in ({"padding": 1}, {"stride": 2}, {"stride": 2, "dilation": 2}, {"groups": 4}):
        w = torch.randn(16, 16 // kwargs.get("groups", 1), 3, 3, requires_grad=True)
        conv2d(x, w, **kwargs).sum().backward()
    pooled, index = max_pool2d(x, 3, 2, 1, return_indices=True)
    (pooled.sum() + avg_pool2d(x, 3, 1, 1, divisor_override=4).sum()).backward()
    leaf = pooled.detach().requires_grad_()
    max_unpool2d(leaf, index, 3, 2, 1, output_size=x.shape).sum().backward()
    assert x.grad.abs().sum() > 0


@pytest.mark.parametrize("kwargs", [{"padding": 1}, {"stride": 2, "padding": 1}, {}])
def test_planes_that_alias_in_cache_are_padded_through_a_transpose_exactly(tiny_chunks, kwargs):
    g = torch.Generator().manual_seed(6)
    x = torch.randn(3, 16, 16, 16, dtype=torch.float64, generator=g)  # 16x16 planes
    padded = window.PaddedChunks(x, 2, (1, 1, 1, 1), channels_last=True)
    assert padded.stage is not None  # the per-sample transpose is the path under test
    chunk = padded.fill(x[:2])
    torch.testing.assert_close(chunk, F.pad(x[:2], (1, 1, 1, 1)), rtol=0, atol=0)
    w = torch.randn(24, 16, 3, 3, dtype=torch.float64, generator=g)
    _compare(x, w, torch.randn(24, dtype=torch.float64, generator=g), **kwargs)
