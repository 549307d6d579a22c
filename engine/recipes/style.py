"""Fourier style transfer from unlabelled target images (FDA, Yang & Soatto 2020).

A training image keeps its phase (edges, shapes: what makes it a car) and takes the
low-frequency amplitude of a random target image (overall brightness, colour cast, the
broad light-and-dark layout: what makes a photo look like a night shot). Applied to every
class alike, the target population's look stops being a cue for any one class — without
a synthetic model of that look. It reads the target images (never their labels), so a
recipe using it is transductive and must say so, as for BatchNorm re-estimation.
"""

from __future__ import annotations

import torch


def _uniform(n: int, generator: torch.Generator | None, device) -> torch.Tensor:
    source = generator.device if generator is not None else torch.device("cpu")
    return torch.rand(n, generator=generator, device=source).to(device)


def fourier_style(
    x: torch.Tensor,
    targets: torch.Tensor,
    beta: float,
    generator: torch.Generator | None = None,
    p: float = 0.5,
) -> torch.Tensor:
    """`x` (N, C, H, W) in [0, 1], with probability `p` per image given the amplitude of a
    random image of `targets` (M, C, H, W: in [0, 1], or uint8) inside the centred
    low-frequency square of half-side round(beta · min(H, W)) (at least one frequency).
    Returns a new batch in [0, 1]; `beta` ≤ 0 or no targets returns `x`."""
    if beta <= 0 or targets.shape[0] == 0 or x.shape[0] == 0:
        return x
    n, _, h, w = x.shape
    pick = (_uniform(n, generator, x.device) * targets.shape[0]).long().clamp_max(len(targets) - 1)
    source = torch.fft.fftshift(torch.fft.fft2(x.float()), dim=(-2, -1))
    picked = targets[pick.to(targets.device)].to(x.device).float()
    if targets.dtype == torch.uint8:
        picked = picked / 255.0
    target = torch.fft.fftshift(torch.fft.fft2(picked), dim=(-2, -1))
    half = max(1, round(beta * min(h, w)))
    cy, cx = h // 2, w // 2
    window = (
        slice(None),
        slice(None),
        slice(cy - half, cy + half + 1),
        slice(cx - half, cx + half + 1),
    )
    amplitude, phase = source.abs(), source.angle()
    amplitude[window] = target.abs()[window]
    styled = torch.fft.ifft2(torch.fft.ifftshift(torch.polar(amplitude, phase), dim=(-2, -1))).real
    chosen = (_uniform(n, generator, x.device) < p).view(n, 1, 1, 1)
    return torch.where(chosen, styled.clamp(0, 1).to(x.dtype), x)
