"""The matrix products of the CPU convolution, on the fastest GEMM torch offers for them.

torch.mm on a CPU calls MKL, and MKL picks its code path by CPU vendor: on AMD (the EPYC
this project is measured on) it runs its AVX2 kernels, ~90 GFLOP/s on one core, while
torch's own convolution runs oneDNN's AVX-512 kernels. oneDNN's float32 matrix product is
reachable through public API: `torch.nn.functional.linear` on an input converted with
`Tensor.to_mkldnn()` is oneDNN's inner product (measured 140-175 GFLOP/s on the same core).
It is still only a matrix product, so the convolution stays hand-written; the price is a
copy of the input matrix into oneDNN's layout and one of the result back.

`times_t(a, b)` = a @ bᵀ uses it for float32 CPU tensors when torch has oneDNN; anything
else (float64, CUDA, a build without oneDNN) takes torch.mm. oneDNN takes `a` in its own
layout (`onednn_operand` converts it, once, when `a` is reused over chunks) and `b` dense;
with the small matrix as `a` and the big one as `b` (measured: 145-185 vs 120-155 GFLOP/s
the other way round) only the small one is converted. `ONEDNN = False` turns it all off
(the tests compare both).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

ONEDNN = True


def uses_onednn(a: torch.Tensor) -> bool:
    """True when `rows_times_t` will send this operand's products to oneDNN."""
    return (
        ONEDNN
        and a.device.type == "cpu"
        and a.dtype == torch.float32
        and torch.backends.mkldnn.is_available()
        and torch.backends.mkldnn.enabled
    )


def onednn_operand(a: torch.Tensor) -> torch.Tensor:
    """`a` converted for oneDNN when `times_t` will use it (else unchanged): convert a
    matrix used by every chunk once per call, not once per chunk."""
    return a.to_mkldnn() if uses_onednn(a) else a


def times_t(a: torch.Tensor, b: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """a (M, K) @ b (N, K)ᵀ (+ bias (N,)) as a new dense (M, N) tensor; `b` contiguous."""
    if a.is_mkldnn:
        return F.linear(a, b, bias).to_dense()
    if uses_onednn(a):
        return F.linear(a.to_mkldnn(), b, bias).to_dense()
    if bias is None:
        return torch.mm(a, b.t())
    return torch.addmm(bias, a, b.t())
