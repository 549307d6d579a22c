"""The implicit-GEMM Triton convolution (`engine.ops.triton_conv`) and the kernel switch.

Without a GPU the kernels run on CPU tensors through Triton's interpreter
(TRITON_INTERPRET=1, read when the kernels are first compiled): exact against torch in
float64 on small shapes covering both reduction layouts, groups, strides (every stride
phase of grad-input), dilation, padding, channels-last and a split grad-weight reduction.
On a CUDA device `tests/test_ops_cuda.py` runs the compiled kernels against cuDNN.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from op_check import check_op
from test_ops_conv import CONV_CASES

from engine.errors import OpError
from engine.ops import select, triton_conv
from engine.ops.conv import conv2d
from engine.ops.select import conv_kernel, set_conv_kernel

pytest.importorskip("triton", reason="needs Triton (it ships with torch's CUDA builds)")


@pytest.fixture
def interpret(monkeypatch):
    """Kernels compiled for Triton's CPU interpreter, and conv2d forced onto them."""
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    with conv_kernel("triton"):
        yield


def conv2d_triton(*args, **kwargs):
    assert select.kernel_for(args[0]) == "triton"
    return conv2d(*args, **kwargs)


# Small enough for the interpreter (~1 s each): channel-block and flat reductions, groups,
# stride 2/3 with dilation and padding, 'same', a bias-free layer.
QUICK_CASES = [
    ((2, 3, 9, 9), (4, 3, 3, 3), (4,), {}),
    ((2, 4, 11, 9), (4, 2, 3, 1), None, {"groups": 2, "stride": (1, 2)}),
    ((1, 3, 16, 14), (2, 3, 3, 2), (2,), {"dilation": (3, 2), "stride": 3, "padding": (1, 3)}),
    ((2, 32, 6, 6), (16, 32, 3, 3), (16,), {"padding": 1}),
    ((2, 20, 7, 7), (24, 20, 3, 3), None, {"stride": 2, "padding": 1}),
    ((1, 4, 10, 12), (4, 2, 3, 3), (4,), {"padding": "same", "dilation": 3, "groups": 2}),
]


@pytest.mark.parametrize(("x", "w", "b", "kwargs"), QUICK_CASES)
def test_triton_conv_in_the_interpreter_matches_torch_float64(interpret, x, w, b, kwargs):
    check_op(conv2d_triton, F.conv2d, (x, w, b), **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize(("x", "w", "b", "kwargs"), CONV_CASES)
def test_triton_conv_in_the_interpreter_matches_torch_on_every_conv_case(
    interpret, x, w, b, kwargs
):
    check_op(conv2d_triton, F.conv2d, (x, w, b), **kwargs)


def test_triton_conv_in_the_interpreter_keeps_channels_last_float32(interpret):
    def nhwc(x, *args, **kw):
        return conv2d_triton(x.contiguous(memory_format=torch.channels_last), *args, **kw)

    check_op(nhwc, F.conv2d, ((2, 16, 7, 7), (8, 16, 3, 3), (8,)), dtype=torch.float32,
             stride=2, padding=1)  # fmt: skip
    x = torch.randn(2, 16, 7, 7).contiguous(memory_format=torch.channels_last)
    out = conv2d_triton(x, torch.randn(8, 16, 3, 3), padding=1)
    assert out.is_contiguous(memory_format=torch.channels_last)


def test_triton_grad_weight_sums_a_split_reduction(interpret, monkeypatch):
    monkeypatch.setattr(triton_conv, "WGRAD_TARGET_PROGRAMS", 10_000)  # force a split
    x = torch.randn(2, 4, 6, 6, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    conv2d_triton(x, w).sum().backward()
    theirs = w.detach().clone().requires_grad_()
    F.conv2d(x.detach(), theirs).sum().backward()
    torch.testing.assert_close(w.grad, theirs.grad, rtol=0, atol=1e-11)


def test_auto_picks_im2col_on_cpu_and_forcing_triton_there_says_why(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.delenv(select.ENV_VAR, raising=False)
    x = torch.randn(1, 2, 5, 5)
    assert select.current() == "auto" and select.kernel_for(x) == "im2col"
    with conv_kernel("triton"), pytest.raises(OpError, match="need a CUDA tensor"):
        conv2d(x, torch.randn(2, 2, 3, 3))
    assert select.current() == "auto"  # the block's choice ends with the block
    with pytest.raises(OpError, match="must be one of"):
        set_conv_kernel("cudnn")


def test_the_environment_variable_sets_the_default_and_set_conv_kernel_overrides_it(
    monkeypatch,
):
    monkeypatch.setenv(select.ENV_VAR, "im2col")
    monkeypatch.setattr(select, "_chosen", [])
    assert select.current() == "im2col"
    set_conv_kernel("triton")
    assert select.current() == "triton"
    with conv_kernel("im2col"):
        assert select.kernel_for(torch.zeros(1)) == "im2col"
    assert select.current() == "triton"
    monkeypatch.setenv(select.ENV_VAR, "fast")
    monkeypatch.setattr(select, "_chosen", [])
    with pytest.raises(OpError, match="must be one of"):
        select.current()


def test_the_gpu_check_script_is_valid_bash_and_every_bench_ops_call_parses(monkeypatch):
    """run_gpu_ops.sh only runs where a GPU is lent: check here what can be checked."""
    import importlib
    import shlex
    import subprocess
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "run_gpu_ops.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text().replace("\\\n", " ")
    calls = [line.split("bench_ops.py", 1)[1] for line in text.splitlines()
             if "bench_ops.py" in line and not line.lstrip().startswith("#")]  # fmt: skip
    assert len(calls) == 4
    monkeypatch.syspath_prepend(str(script.parent))
    bench_ops = importlib.import_module("bench_ops")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for call in calls:
        args = bench_ops.parse_args(shlex.split(call))
        assert args.device == "cuda"
    assert "tests/test_ops_cuda.py" in text and "CNNLAB_TRITON_TUNE=quick" in text


def test_autotune_pruning_per_mode(monkeypatch):
    import triton

    configs = triton_conv._configs(triton, "fwd")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.delenv(triton_conv.TUNE_ENV, raising=False)
    assert triton_conv._prune(configs, {}) == configs
    small = triton_conv._prune(configs, {}, ACC_FP64=True)
    assert small and all(c.kwargs["BLOCK_M"] * c.kwargs["BLOCK_N"] <= 4096 for c in small)
    monkeypatch.setenv(triton_conv.TUNE_ENV, "quick")
    assert triton_conv._prune(configs, {}) == [configs[0], configs[-1]]
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert triton_conv._prune(configs, {}) == configs[:1]
