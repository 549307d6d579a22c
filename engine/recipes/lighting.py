"""Lighting augmentation for photos taken under other light than the training set.

The vehicles test split is mostly night shots (dark scene, bright headlights) while the
training cars are daylight. Brightness jitter alone does not imitate that, and per-image
standardisation removes it anyway; what survives standardisation is the *shape* of the
tone curve. So each augmented image gets a strong random gamma (> 1 crushes the mid-tones
and keeps the highlights, as at night), a colour cast (sodium / LED light), a contrast
change and, sometimes, greyscale — all on [0, 1] images, before normalisation.
"""

from __future__ import annotations

import math

import torch

LIGHTING = ("none", "night")
_LUMA = (0.299, 0.587, 0.114)


def _uniform(n: int, low: float, high: float, g: torch.Generator | None, device) -> torch.Tensor:
    source = g.device if g is not None else torch.device("cpu")
    return (low + (high - low) * torch.rand((n, 1, 1, 1), generator=g, device=source)).to(device)


def _cast(n: int, g: torch.Generator | None, device) -> torch.Tensor:
    source = g.device if g is not None else torch.device("cpu")
    gains = 0.75 + 0.5 * torch.rand((n, 3, 1, 1), generator=g, device=source)
    return gains.to(device)


def relight(
    x: torch.Tensor, mode: str = "night", generator: torch.Generator | None = None, p: float = 0.5
) -> torch.Tensor:
    """Relight a [0, 1] batch (N, 3, H, W): with probability `p` per image, gamma in
    [1.5, 3.5] (log-uniform), brightness ×[0.4, 1], colour cast ×[0.75, 1.25] per channel,
    greyscale with probability 0.2. Returns a new tensor in [0, 1]; "none" returns `x`."""
    if mode not in LIGHTING:
        raise ValueError(f"unknown lighting {mode!r}")
    if mode == "none" or x.shape[0] == 0:
        return x
    n, device = x.shape[0], x.device
    gamma = torch.exp(_uniform(n, math.log(1.5), math.log(3.5), generator, device))
    out = x.clamp(0, 1) ** gamma * _uniform(n, 0.4, 1.0, generator, device)
    if x.shape[1] == 3:
        out = (out * _cast(n, generator, device)).clamp(0, 1)
        weights = torch.tensor(_LUMA, dtype=x.dtype, device=device).view(1, 3, 1, 1)
        grey = (out * weights).sum(1, keepdim=True).expand_as(out)
        out = torch.where(_uniform(n, 0, 1, generator, device) < 0.2, grey, out)
    chosen = _uniform(n, 0, 1, generator, device) < p
    return torch.where(chosen, out, x)
