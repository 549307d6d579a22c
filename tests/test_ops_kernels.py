"""The chunked im2col kernel behind `engine.ops.conv2d`: exact (float64 against torch) across
chunk boundaries, thread policies, layouts and paddings; its scratch workspace; pooling ties."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.ops import _chunks, conv2d, max_pool2d


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
    one), under both policies (one thread: cache-sized chunks and strided col2im adds;
    several: the capped big chunks and one fold call)."""
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
