"""Mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019) on whole batches.

Both pair each image with another from the same batch and train on a blend, which keeps a
small data set from being memorised. Both use one λ per batch drawn from Beta(α, α), so the
loss is λ·CE(y_a) + (1 − λ)·CE(y_b).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

MIXING = ("none", "mixup", "cutmix")


def _beta(alpha: float, generator: torch.Generator | None) -> float:
    """One Beta(α, α) draw from `generator` (via two Gamma draws made from uniforms)."""
    dist = torch.distributions.Beta(torch.tensor([alpha]), torch.tensor([alpha]))
    if generator is None:
        return float(dist.sample())
    # Beta has no generator argument: draw by inverse CDF on a seeded uniform grid.
    u = torch.rand((1,), generator=generator, device=generator.device).cpu()
    grid = torch.linspace(1e-4, 1 - 1e-4, 2001)
    cdf = torch.cumsum(dist.log_prob(grid.unsqueeze(1)).exp().squeeze(1), 0)
    cdf = cdf / cdf[-1]
    return float(grid[torch.searchsorted(cdf, u).clamp_max(len(grid) - 1)])


def mix_batch(
    x: torch.Tensor,
    y: torch.Tensor,
    alpha: float,
    generator: torch.Generator | None = None,
    mode: str = "mixup",
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(mixed x, partner labels, λ): blend (mixup) or paste a box (cutmix) from a shuffled
    copy of the batch. λ is the share of the original image (for cutmix: by area)."""
    if mode not in MIXING:
        raise ValueError(f"unknown mixing {mode!r}")
    if mode == "none" or alpha <= 0 or x.shape[0] < 2:
        return x, y, 1.0
    lam = _beta(alpha, generator)
    source = generator.device if generator is not None else torch.device("cpu")
    perm = torch.randperm(x.shape[0], generator=generator, device=source).to(x.device)
    if mode == "mixup":
        return lam * x + (1 - lam) * x[perm], y[perm], lam
    h, w = x.shape[-2:]
    cut = math.sqrt(1 - lam)
    ch, cw = int(h * cut), int(w * cut)
    centre = torch.rand((2,), generator=generator, device=source).cpu()
    cy, cx = int(centre[0] * h), int(centre[1] * w)
    top, bottom = max(cy - ch // 2, 0), min(cy + ch // 2, h)
    left, right = max(cx - cw // 2, 0), min(cx + cw // 2, w)
    mixed = x.clone()
    mixed[..., top:bottom, left:right] = x[perm][..., top:bottom, left:right]
    lam = 1 - (bottom - top) * (right - left) / (h * w)
    return mixed, y[perm], lam


def mixed_loss(
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    outputs: torch.Tensor,
    y_a: torch.Tensor,
    y_b: torch.Tensor,
    lam: float,
) -> torch.Tensor:
    """λ·loss(y_a) + (1 − λ)·loss(y_b)."""
    if lam >= 1.0:
        return loss_fn(outputs, y_a)
    return lam * loss_fn(outputs, y_a) + (1 - lam) * loss_fn(outputs, y_b)
