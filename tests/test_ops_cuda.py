"""The hand-written ops on a CUDA device against torch's (cuDNN) kernels there.

The same case lists as the CPU tests, in float64 (so TF32 cannot blur the comparison) and
float32 with channels-last inputs; skipped without a GPU.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from op_check import check_op
from test_ops_conv import CONV_CASES
from test_ops_pool import AVG_CASES, MAX_CASES

from engine.ops import avg_pool2d, conv2d, max_pool2d

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize(("x", "w", "b", "kwargs"), CONV_CASES)
def test_conv2d_on_cuda_matches_cudnn(x, w, b, kwargs):
    check_op(conv2d, F.conv2d, (x, w, b), device="cuda", **kwargs)


@pytest.mark.parametrize(("x", "kwargs"), MAX_CASES)
def test_max_pool2d_on_cuda_matches_torch(x, kwargs):
    check_op(max_pool2d, F.max_pool2d, (x,), device="cuda", **kwargs)


@pytest.mark.parametrize(("x", "kwargs"), AVG_CASES)
def test_avg_pool2d_on_cuda_matches_torch(x, kwargs):
    check_op(avg_pool2d, F.avg_pool2d, (x,), device="cuda", **kwargs)


def test_conv2d_channels_last_float32_on_cuda_matches_cudnn():
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    x = torch.randn(8, 16, 20, 20, device="cuda").contiguous(memory_format=torch.channels_last)
    w = torch.randn(32, 16, 3, 3, device="cuda")
    ours, theirs = conv2d(x, w, padding=1), F.conv2d(x, w, padding=1)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)
