"""Which kernel runs a hand-written convolution: decided here, and only here.

* "im2col" (`engine.ops.im2col`): window gather + matrix multiply, any device and dtype.
* "triton" (`engine.ops.triton_conv`): implicit-GEMM Triton kernels, CUDA tensors (or CPU
  tensors under TRITON_INTERPRET=1, for tests).
* "auto" (the default): Triton for CUDA tensors when Triton is installed, im2col otherwise.

Force one with `set_conv_kernel(name)`, for a block of code with `with conv_kernel(name):`,
or for a whole process with the environment variable CNNLAB_CONV_KERNEL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from engine.errors import OpError
from engine.ops import triton_conv

KERNELS = ("auto", "im2col", "triton")
ENV_VAR = "CNNLAB_CONV_KERNEL"
_chosen: list[str] = []  # set_conv_kernel's choice (empty: the environment's, else "auto")


def _checked(name: str) -> str:
    if name not in KERNELS:
        raise OpError(f"conv kernel must be one of {KERNELS}, got {name!r}")
    return name


def current() -> str:
    """The kernel choice in force: set_conv_kernel's, else CNNLAB_CONV_KERNEL, else "auto"."""
    if _chosen:
        return _chosen[-1]
    return _checked(os.environ.get(ENV_VAR, "auto") or "auto")


def set_conv_kernel(name: str) -> None:
    """Use kernel `name` ("auto", "im2col" or "triton") from now on, in every thread."""
    _chosen[:] = [_checked(name)]


@contextmanager
def conv_kernel(name: str) -> Iterator[None]:
    """Use kernel `name` inside the block, then go back to the previous choice."""
    before = list(_chosen)
    _chosen[:] = [_checked(name)]
    try:
        yield
    finally:
        _chosen[:] = before


def kernel_for(x: torch.Tensor) -> str:
    """The kernel that will run the convolution of `x`: "im2col" or "triton"."""
    choice = current()
    if choice == "im2col":
        return "im2col"
    reason = triton_conv.unusable_reason(x)
    if choice == "triton":
        if reason:
            raise OpError(f"conv2d: the Triton kernel was asked for, but {reason}")
        return "triton"
    return "triton" if reason is None and x.device.type == "cuda" else "im2col"
