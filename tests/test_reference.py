"""The lab's loop implementations reproduce its printed results, without its batch bug."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.errors import OpError
from engine.ops.reference import corr2d, corr2d_multi_in, corr2d_multi_in_out, edge_image, pool2d


def test_corr2d_reproduces_the_lab_example():
    X = torch.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    K = torch.tensor([[0, 1], [2, 3]])
    assert torch.equal(corr2d(X, K), torch.tensor([[19.0, 25.0], [37.0, 43.0]]))


def test_corr2d_multi_in_reproduces_the_lab_example():
    X = torch.tensor([[[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[1, 2, 3], [4, 5, 6], [7, 8, 9]]])
    K = torch.tensor([[[0, 1], [2, 3]], [[1, 2], [3, 4]]])
    assert torch.equal(corr2d_multi_in(X, K), torch.tensor([[56.0, 72.0], [104.0, 120.0]]))


def test_corr2d_multi_in_out_has_the_lab_shape_and_matches_torch():
    X = torch.arange(192, dtype=torch.float).view(3, 8, 8)
    K = torch.arange(108, dtype=torch.float).view(4, 3, 3, 3)
    Y = corr2d_multi_in_out(X, K)
    assert Y.shape == (4, 6, 6)
    torch.testing.assert_close(Y, F.conv2d(X[None], K)[0])


def test_pool2d_reproduces_the_lab_example():
    X = torch.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    assert torch.equal(pool2d(X, (2, 2)), torch.tensor([[4.0, 5.0], [7.0, 8.0]]))
    assert torch.equal(pool2d(X, (2, 2), "avg"), torch.tensor([[2.0, 3.0], [5.0, 6.0]]))


def test_edge_detection_finds_both_edges():
    Y = corr2d(edge_image(), torch.tensor([[1, -1]]))
    row = torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0, -1.0, 0.0])
    assert Y.shape == (6, 7)
    assert torch.equal(Y, row.expand(6, 7))


def test_batched_corr2d_keeps_samples_apart():
    # The lab's batched version summed over the batch: every sample got the same value.
    X = torch.stack([torch.zeros(4, 4), torch.ones(4, 4)])
    Y = corr2d(X, torch.ones(2, 2))
    assert torch.equal(Y[0], torch.zeros(3, 3))
    assert torch.equal(Y[1], torch.full((3, 3), 4.0))


def test_batched_multi_in_out_matches_torch_per_sample():
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(3, 2, 6, 5, generator=generator, dtype=torch.float64)
    K = torch.randn(4, 2, 3, 2, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(corr2d_multi_in_out(X, K), F.conv2d(X, K))
    torch.testing.assert_close(corr2d_multi_in(X, K[0]), F.conv2d(X, K[:1])[:, 0])


def test_batched_pool2d_matches_torch():
    X = torch.randn(2, 3, 5, 6, dtype=torch.float64)
    torch.testing.assert_close(pool2d(X, (2, 3)), F.max_pool2d(X, (2, 3), stride=1))
    torch.testing.assert_close(pool2d(X, (3, 2), "avg"), F.avg_pool2d(X, (3, 2), stride=1))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: corr2d(torch.ones(3), torch.ones(2, 2)), "X must be"),
        (lambda: corr2d(torch.ones(3, 3), torch.ones(4, 2)), "larger than the input"),
        (lambda: corr2d_multi_in(torch.ones(2, 3, 3), torch.ones(3, 2, 2)), "3 channels"),
        (lambda: corr2d_multi_in(torch.ones(2, 3, 3), torch.ones(1, 2, 2, 2)), "K must be"),
        (lambda: corr2d_multi_in_out(torch.ones(2, 3, 3), torch.ones(2, 2, 2)), "K must be"),
        (lambda: pool2d(torch.ones(3, 3), (2, 2), "min"), "mode"),
        (lambda: pool2d(torch.ones(3, 3), (4, 2)), "does not fit"),
    ],
)
def test_reference_bad_arguments_raise_op_error(call, message):
    with pytest.raises(OpError, match=message):
        call()
