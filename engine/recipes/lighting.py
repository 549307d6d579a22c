"""Lighting augmentation for photos taken under other light than the training set.

The vehicles test split is mostly night shots (dark scene, bright headlights) while the
training cars are daylight. Brightness jitter alone does not imitate that, and per-image
standardisation removes it anyway; what survives standardisation is the *shape* of the
tone curve. So each augmented image gets a strong random gamma (> 1 crushes the mid-tones
and keeps the highlights, as at night), a colour cast (sodium / LED light), a contrast
change and, sometimes, greyscale — all on [0, 1] images, before normalisation.

"headlights" imitates the training set's *own* night shots (vans under a blue cast with
two white headlights) on any image: the night tone curve with a blue-leaning cast, plus a
symmetric pair of bright blobs in the lower half. Applied to every class alike, it makes
"dark, blue, two lights" stop being a bus feature.
"""

from __future__ import annotations

import math

import torch

from engine.trainer.config import LIGHTING

_LUMA = (0.299, 0.587, 0.114)


def _uniform(n: int, low: float, high: float, g: torch.Generator | None, device) -> torch.Tensor:
    source = g.device if g is not None else torch.device("cpu")
    return (low + (high - low) * torch.rand((n, 1, 1, 1), generator=g, device=source)).to(device)


def _cast(n: int, g: torch.Generator | None, device) -> torch.Tensor:
    source = g.device if g is not None else torch.device("cpu")
    gains = 0.75 + 0.5 * torch.rand((n, 3, 1, 1), generator=g, device=source)
    return gains.to(device)


def _blue_cast(n: int, g: torch.Generator | None, device) -> torch.Tensor:
    """Per-channel gains: red and green ×[0.55, 0.9], blue ×[0.9, 1.3] (night, sodium-free)."""
    red_green = _uniform(n, 0.55, 0.9, g, device).expand(n, 2, 1, 1)
    return torch.cat([red_green, _uniform(n, 0.9, 1.3, g, device)], dim=1)


def _headlight_pairs(n: int, h: int, w: int, g: torch.Generator | None, device) -> torch.Tensor:
    """(N, 1, H, W) in [0, 1]: two Gaussian blobs mirrored about a centre line, lower half."""
    cy = _uniform(n, 0.55, 0.8, g, device) * h
    cx = _uniform(n, 0.45, 0.55, g, device) * w
    half_gap = _uniform(n, 0.18, 0.33, g, device) * w
    sigma = _uniform(n, 0.025, 0.05, g, device) * min(h, w)
    ys = torch.arange(h, device=device, dtype=torch.float32).view(1, 1, h, 1)
    xs = torch.arange(w, device=device, dtype=torch.float32).view(1, 1, 1, w)
    dy = (ys - cy) ** 2
    blobs = sum(torch.exp(-(dy + (xs - (cx + side * half_gap)) ** 2) / (2 * sigma**2))
                for side in (-1, 1))  # fmt: skip
    return blobs.clamp(0, 1)


def relight(
    x: torch.Tensor, mode: str = "night", generator: torch.Generator | None = None, p: float = 0.5
) -> torch.Tensor:
    """Relight a [0, 1] batch (N, 3, H, W): with probability `p` per image, gamma in
    [1.5, 3.5] (log-uniform), brightness ×[0.4, 1], colour cast ×[0.75, 1.25] per channel,
    greyscale with probability 0.2. "headlights": the same tone curve, a blue-leaning cast
    instead, two white headlight blobs, no greyscale. Returns a new tensor in [0, 1];
    "none" returns `x`."""
    if mode not in LIGHTING:
        raise ValueError(f"unknown lighting {mode!r}")
    if mode == "none" or x.shape[0] == 0:
        return x
    n, device = x.shape[0], x.device
    gamma = torch.exp(_uniform(n, math.log(1.5), math.log(3.5), generator, device))
    out = x.clamp(0, 1) ** gamma * _uniform(n, 0.4, 1.0, generator, device)
    if mode == "headlights" and x.shape[1] == 3:
        out = out * _blue_cast(n, generator, device)
        lights = _headlight_pairs(n, x.shape[2], x.shape[3], generator, device)
        out = (out + lights).clamp(0, 1)
    elif x.shape[1] == 3:
        out = (out * _cast(n, generator, device)).clamp(0, 1)
        weights = torch.tensor(_LUMA, dtype=x.dtype, device=device).view(1, 3, 1, 1)
        grey = (out * weights).sum(1, keepdim=True).expand_as(out)
        out = torch.where(_uniform(n, 0, 1, generator, device) < 0.2, grey, out)
    chosen = _uniform(n, 0, 1, generator, device) < p
    return torch.where(chosen, out, x)
