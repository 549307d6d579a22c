"""The lab's loop implementations, kept for teaching — and fixed.

These loop over output pixels on purpose: they are the definition the vectorised ops in
`engine.ops.functional` are tested against and the code a student reads first. Batched
forms compute each sample separately; the lab's batched `corr2d` summed the whole batch
into every output pixel (`(X[:, i:i+kh, j:j+kw] * K).sum()`), which this version does not.
"""

from __future__ import annotations

import torch

from engine.errors import OpError


def _float(x: torch.Tensor) -> torch.Tensor:
    """Integer inputs compute in float32, as the lab's `torch.zeros` result did."""
    return x if x.is_floating_point() else x.float()


def _check_rank(op: str, name: str, x: torch.Tensor, ranks: tuple[int, ...], layout: str):
    if not isinstance(x, torch.Tensor) or x.dim() not in ranks:
        got = f"{x.dim()}-D {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise OpError(f"{op}: {name} must be {layout}, got {got}")


def edge_image() -> torch.Tensor:
    """The lab's 6x8 image: white (1) with the middle four columns black (0)."""
    x = torch.ones(6, 8)
    x[:, 2:6] = 0
    return x


def corr2d(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Cross-correlate X (H, W) or a batch (N, H, W) with one kernel K (kh, kw)."""
    _check_rank("corr2d", "X", X, (2, 3), "(H, W) or (N, H, W)")
    _check_rank("corr2d", "K", K, (2,), "(kh, kw)")
    X, K = _float(X), _float(K)
    (height, width), (kh, kw) = X.shape[-2:], K.shape
    if kh > height or kw > width:
        raise OpError(f"corr2d: kernel {kh}x{kw} is larger than the input {height}x{width}")
    Y = X.new_zeros((*X.shape[:-2], height - kh + 1, width - kw + 1))
    for i in range(Y.shape[-2]):
        for j in range(Y.shape[-1]):
            # Sum over the window only — never over the batch.
            Y[..., i, j] = (X[..., i : i + kh, j : j + kw] * K).sum(dim=(-2, -1))
    return Y


def corr2d_multi_in(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Sum of per-channel correlations: X (C, H, W) or (N, C, H, W), K (C, kh, kw)."""
    _check_rank("corr2d_multi_in", "X", X, (3, 4), "(C, H, W) or (N, C, H, W)")
    _check_rank("corr2d_multi_in", "K", K, (3,), "(C, kh, kw)")
    channels = X.shape[-3]
    if K.shape[0] != channels:
        raise OpError(f"corr2d_multi_in: K has {K.shape[0]} channels but X has {channels}")
    res = corr2d(X[..., 0, :, :], K[0])
    for c in range(1, channels):
        res = res + corr2d(X[..., c, :, :], K[c])
    return res


def corr2d_multi_in_out(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """One output channel per kernel: X (C, H, W) or (N, C, H, W), K (O, C, kh, kw)."""
    _check_rank("corr2d_multi_in_out", "K", K, (4,), "(C_out, C_in, kh, kw)")
    _check_rank("corr2d_multi_in_out", "X", X, (3, 4), "(C, H, W) or (N, C, H, W)")
    channel_dim = 0 if X.dim() == 3 else 1
    return torch.stack([corr2d_multi_in(X, k) for k in K], dim=channel_dim)


def pool2d(X: torch.Tensor, pool_size: tuple[int, int], mode: str = "max") -> torch.Tensor:
    """Stride-1, unpadded pooling over the last two dims of X (any leading dims)."""
    if mode not in ("max", "avg"):
        raise OpError(f"pool2d: mode must be 'max' or 'avg', got {mode!r}")
    if not isinstance(X, torch.Tensor) or X.dim() < 2:
        raise OpError("pool2d: X must be a tensor with at least 2 dims (..., H, W)")
    X = _float(X)
    ph, pw = pool_size
    height, width = X.shape[-2:]
    if not (1 <= ph <= height and 1 <= pw <= width):
        raise OpError(f"pool2d: pool {ph}x{pw} does not fit the input {height}x{width}")
    Y = X.new_zeros((*X.shape[:-2], height - ph + 1, width - pw + 1))
    for i in range(Y.shape[-2]):
        for j in range(Y.shape[-1]):
            window = X[..., i : i + ph, j : j + pw]
            reduce = window.amax if mode == "max" else window.mean
            Y[..., i, j] = reduce(dim=(-2, -1))
    return Y
