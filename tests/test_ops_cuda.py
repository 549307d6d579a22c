"""The hand-written ops on a CUDA device against torch's (cuDNN) kernels there.

The same case lists as the CPU tests, in float64 (so TF32 cannot blur the comparison) for
both convolution kernels (the Triton implicit GEMM that `auto` picks on CUDA, and im2col),
then the precisions training uses: float32 with and without TF32, bfloat16, channels-last,
autocast. Where the kernel rounds (TF32, bfloat16) the tolerance is stated against a
float64 reference: ours may be at most twice as far from it as cuDNN is, plus a floor.
Skipped without a GPU.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from op_check import check_op
from test_ops_conv import CONV_CASES
from test_ops_pool import AVG_CASES, MAX_CASES

from engine.ops import select
from engine.ops.conv import conv2d
from engine.ops.layers import MyConv2d
from engine.ops.pool import avg_pool2d, max_pool2d
from engine.ops.select import conv_kernel

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

KERNELS = ["triton", "im2col"]


@pytest.fixture(autouse=True)
def exact_float32():
    """TF32 off unless a test turns it on (then restored)."""
    flags = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = flags


def test_auto_runs_cuda_tensors_through_triton():
    pytest.importorskip("triton")
    assert select.kernel_for(torch.zeros(1, device="cuda")) == "triton"


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize(("x", "w", "b", "kwargs"), CONV_CASES)
def test_conv2d_on_cuda_matches_cudnn_float64(kernel, x, w, b, kwargs):
    with conv_kernel(kernel):
        check_op(conv2d, F.conv2d, (x, w, b), device="cuda", **kwargs)


@pytest.mark.parametrize(("x", "kwargs"), MAX_CASES)
def test_max_pool2d_on_cuda_matches_torch(x, kwargs):
    check_op(max_pool2d, F.max_pool2d, (x,), device="cuda", **kwargs)


@pytest.mark.parametrize(("x", "kwargs"), AVG_CASES)
def test_avg_pool2d_on_cuda_matches_torch(x, kwargs):
    check_op(avg_pool2d, F.avg_pool2d, (x,), device="cuda", **kwargs)


# The benchmark's layer shapes at batch 2: real channel counts, so the autotuned tiles,
# split grad-weight reductions and channel-block loops all run.
BENCH_SHAPES = [
    ((2, 3, 32, 32), (32, 3, 3, 3), {}),
    ((2, 64, 28, 28), (128, 64, 3, 3), {}),
    ((2, 64, 26, 26), (128, 64, 3, 3), {"dilation": 5}),
    ((2, 128, 16, 16), (256, 128, 3, 3), {"stride": 2, "padding": 1}),
    ((2, 3, 224, 224), (64, 3, 11, 11), {"stride": 4, "padding": 2}),
    ((2, 64, 16, 16), (64, 16, 3, 3), {"padding": 1, "groups": 4}),
]


def _errors(dtype, layout, x_shape, w_shape, kwargs):
    """Max |error| against a float64 reference of ours and of cuDNN: forward, grad x, grad w."""
    g = torch.Generator().manual_seed(0)
    x64 = torch.randn(x_shape, generator=g, dtype=torch.float64).cuda()
    w64 = torch.randn(w_shape, generator=g, dtype=torch.float64).cuda()
    b64 = torch.randn(w_shape[0], generator=g, dtype=torch.float64).cuda()
    results, grad64 = {}, None
    for name, op, cast in (("ref", F.conv2d, torch.float64), ("ours", conv2d, dtype),
                           ("cudnn", F.conv2d, dtype)):  # fmt: skip
        x = x64.to(cast).contiguous(memory_format=layout).requires_grad_()
        w, b = w64.to(cast).requires_grad_(), b64.to(cast).requires_grad_()
        out = op(x, w, b, **kwargs)
        if grad64 is None:  # the float64 reference runs first
            grad64 = torch.randn(out.shape, generator=g, dtype=torch.float64).cuda()
        out.backward(grad64.to(cast))
        results[name] = [t.double() for t in (out, x.grad, w.grad)]
        if name == "ours":
            assert out.dtype == dtype and out.is_contiguous(memory_format=layout)
    scale = [r.abs().max().item() for r in results["ref"]]
    return {
        who: [(t - r).abs().max().item() / s for t, r, s in
              zip(results[who], results["ref"], scale, strict=True)]
        for who in ("ours", "cudnn")
    }  # fmt: skip


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last],
                         ids=["nchw", "nhwc"])  # fmt: skip
@pytest.mark.parametrize(
    ("dtype", "tf32", "floor"),
    [(torch.float32, False, 1e-5), (torch.float32, True, 2e-3), (torch.bfloat16, False, 2e-2)],
    ids=["float32", "tf32", "bfloat16"],
)
@pytest.mark.parametrize(("x", "w", "kwargs"), BENCH_SHAPES)
def test_triton_conv_rounds_no_worse_than_cudnn(layout, dtype, tf32, floor, x, w, kwargs):
    """Relative errors vs float64: ours ≤ 2 x cuDNN's + floor (float32 1e-5, TF32 2e-3,
    bfloat16 2e-2), for the output and both gradients."""
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = tf32
    with conv_kernel("triton"):
        errors = _errors(dtype, layout, x, w, kwargs)
    for ours, cudnn, what in zip(errors["ours"], errors["cudnn"], ("out", "grad x", "grad w"),
                                 strict=True):  # fmt: skip
        assert ours <= 2 * cudnn + floor, f"{what}: ours {ours:.2e}, cuDNN {cudnn:.2e}"


def test_my_conv2d_under_bf16_autocast_on_cuda_returns_float32_weight_grads():
    torch.manual_seed(0)
    layer = MyConv2d(16, 32, 3, padding=1).cuda()
    reference = torch.nn.Conv2d(16, 32, 3, padding=1).cuda()
    reference.load_state_dict(layer.state_dict())
    x = torch.randn(4, 16, 12, 12, device="cuda").contiguous(memory_format=torch.channels_last)
    outs = []
    for net in (layer, reference):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = net(x)
        out.float().square().mean().backward()
        outs.append(out)
    assert outs[0].dtype == torch.bfloat16 and layer.weight.grad.dtype == torch.float32
    torch.testing.assert_close(outs[0].float(), outs[1].float(), rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(layer.weight.grad, reference.weight.grad, rtol=5e-2, atol=5e-3)


@pytest.mark.parametrize("kernel", KERNELS)
def test_conv2d_channels_last_float32_on_cuda_matches_cudnn(kernel):
    x = torch.randn(8, 16, 20, 20, device="cuda").contiguous(memory_format=torch.channels_last)
    w = torch.randn(32, 16, 3, 3, device="cuda")
    with conv_kernel(kernel):
        ours = conv2d(x, w, padding=1)
    torch.testing.assert_close(ours, F.conv2d(x, w, padding=1), rtol=1e-4, atol=1e-4)
