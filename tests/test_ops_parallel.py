"""`engine.ops._parallel`: several CPU threads as one-thread workers over batch slices."""

from __future__ import annotations

import threading

import pytest
import torch
import torch.nn.functional as F

from engine.ops import _parallel
from engine.ops.conv import conv2d
from engine.ops.pool import avg_pool2d, max_pool2d


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_slices_cover_the_batch_in_order_with_sizes_one_apart():
    assert _parallel.slices(7, 3) == [(0, 3), (3, 5), (5, 7)]
    assert _parallel.slices(2, 2) == [(0, 1), (1, 2)]
    assert _parallel.workers_for(1, torch.device("cpu")) == 1  # never more than the batch


def test_over_batch_runs_slices_on_separate_one_thread_workers_and_restores(two_threads):
    seen = []

    def work(start, stop):
        seen.append((start, stop, threading.get_ident(), torch.get_num_threads()))
        return stop - start

    with torch.no_grad():
        assert _parallel.over_batch(5, torch.device("cpu"), work) == [3, 2]
    assert sorted(s[:2] for s in seen) == [(0, 3), (3, 5)]
    assert len({s[2] for s in seen}) == 2 and {s[3] for s in seen} == {1}
    assert torch.get_num_threads() == 2


def test_workers_follow_the_callers_grad_mode_and_errors_come_back(two_threads):
    modes = []
    with torch.no_grad():
        _parallel.over_batch(4, torch.device("cpu"), lambda a, b: modes.append(
            torch.is_grad_enabled()))  # fmt: skip
    assert modes == [False, False]

    def fail(start, stop):
        raise ValueError(f"slice {start}")

    with pytest.raises(ValueError, match="slice"):
        _parallel.over_batch(4, torch.device("cpu"), fail)
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("threads", [1, 2])
def test_ops_give_torchs_answers_whether_split_or_not(threads):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(5, 16, 11, 11, dtype=torch.float64, generator=g)
        w = torch.randn(8, 16, 3, 3, dtype=torch.float64, generator=g)
        cases = [
            (conv2d, F.conv2d, (w,), {"stride": 2, "padding": 1}),
            (max_pool2d, F.max_pool2d, (3,), {"stride": 2, "padding": 1}),
            (avg_pool2d, F.avg_pool2d, (3,), {"stride": 1, "padding": 1}),
        ]
        for ours, theirs, args, kwargs in cases:
            grads = []
            for op in (ours, theirs):
                leaf = x.clone().requires_grad_()
                out = op(leaf, *args, **kwargs)
                out.backward(torch.ones_like(out))
                grads.append((out, leaf.grad))
            for a, b in zip(*grads, strict=True):
                torch.testing.assert_close(a, b, rtol=0, atol=1e-11)
    finally:
        torch.set_num_threads(before)
