"""Dark Channel Prior dehazing (He, Sun & Tang 2009) with guided-filter refinement (He 2010).

A training-free "model" (`model.trainable = False`, no parameters) so that it runs through the
same evaluation as the learned dehazers and gives them an honest classical baseline.
Haze model: I = J·t + A·(1 − t). In haze-free outdoor patches some channel is nearly zero (the
dark channel), so dark(I / A) ≈ 1 − t, which gives t; A is read from the haziest pixels;
then J = (I − A) / max(t, t0) + A. Everything is batched tensor ops on the input's device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.errors import ModelError
from engine.models._options import OptionSpec
from engine.models._registry import register_model

BRIGHTEST_FRACTION = 0.001  # the paper picks A among the top 0.1% dark-channel pixels
LUMA = (0.299, 0.587, 0.114)


def min_filter(x: Tensor, size: int) -> Tensor:
    """Per-channel minimum over a size×size window (odd size), same spatial size.

    Written as −max_pool(−x): max_pool pads with −inf, so borders use only real pixels.
    """
    return -F.max_pool2d(-x, size, stride=1, padding=size // 2)


def dark_channel(x: Tensor, patch_size: int) -> Tensor:
    """min over channels, then over a patch: (N, C, H, W) → (N, 1, H, W)."""
    return min_filter(x.amin(dim=1, keepdim=True), patch_size)


def atmospheric_light(image: Tensor, dark: Tensor) -> Tensor:
    """A per image (N, C, 1, 1): among the brightest 0.1% of the dark channel (the most
    haze-opaque pixels), the colour of the one with the highest intensity in the input."""
    n, c = image.shape[:2]
    flat_dark = dark.flatten(1)
    k = max(1, int(flat_dark.shape[1] * BRIGHTEST_FRACTION))
    index = flat_dark.topk(k, dim=1).indices  # (N, k)
    candidates = image.flatten(2).gather(2, index.unsqueeze(1).expand(n, c, k))  # (N, C, k)
    best = candidates.sum(dim=1).argmax(dim=1)  # (N,)
    light = candidates[torch.arange(n, device=image.device), :, best]  # (N, C)
    return light.view(n, c, 1, 1)


def box_mean(x: Tensor, radius: int) -> Tensor:
    """Mean over a (2r+1)² window clipped to the image, in O(r) per pixel (two 1-D passes)."""
    size = 2 * radius + 1
    x = F.avg_pool2d(x, (size, 1), stride=1, padding=(radius, 0), count_include_pad=False)
    return F.avg_pool2d(x, (1, size), stride=1, padding=(0, radius), count_include_pad=False)


def guided_filter(guide: Tensor, source: Tensor, radius: int, eps: float) -> Tensor:
    """He et al.'s guided filter: `source` smoothed but following the edges of `guide`."""
    radius = min(radius, max(guide.shape[-2:]) - 1)  # a wider window changes nothing
    mean_i = box_mean(guide, radius)
    mean_p = box_mean(source, radius)
    var_i = box_mean(guide * guide, radius) - mean_i * mean_i
    cov_ip = box_mean(guide * source, radius) - mean_i * mean_p
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box_mean(a, radius) * guide + box_mean(b, radius)


def grayscale(image: Tensor) -> Tensor:
    """Luma of an RGB batch (channel mean for other channel counts): the filter's guide."""
    if image.shape[1] == 3:
        weights = torch.tensor(LUMA, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
        return (image * weights).sum(dim=1, keepdim=True)
    return image.mean(dim=1, keepdim=True)


class DarkChannelPrior(nn.Module):
    """hazy (N, C, H, W) in [0,1] → dehazed, same shape, in [0,1]. No parameters."""

    trainable = False

    def __init__(
        self, patch_size: int, omega: float, t0: float, gf_radius: int, gf_eps: float
    ) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.omega = omega
        self.t0 = t0
        self.gf_radius = gf_radius
        self.gf_eps = gf_eps

    def transmission(self, hazy: Tensor, light: Tensor) -> Tensor:
        """t (N, 1, H, W): 1 − ω·dark(I/A), refined by the guided filter when its radius > 0."""
        t = 1.0 - self.omega * dark_channel(hazy / light, self.patch_size)
        if self.gf_radius > 0:
            t = guided_filter(grayscale(hazy), t, self.gf_radius, self.gf_eps)
        return t

    def forward(self, hazy: Tensor) -> Tensor:
        hazy = hazy.clamp(0.0, 1.0)
        light = atmospheric_light(hazy, dark_channel(hazy, self.patch_size)).clamp_min(1e-3)
        t = self.transmission(hazy, light).clamp(min=self.t0, max=1.0)
        return ((hazy - light) / t + light).clamp(0.0, 1.0)


@register_model(
    "dcp",
    task="dehaze",
    description="Dark Channel Prior + guided filter, no training (He 2009)",
    options=(
        OptionSpec("patch_size", "int", 15, help="dark-channel patch side (odd)", minimum=1),
        OptionSpec(
            "omega",
            "float",
            0.95,
            help="share of the haze removed (1 − omega is kept as a depth cue)",
            minimum=0.0,
            maximum=1.0,
        ),
        OptionSpec(
            "t0", "float", 0.1, help="lower bound on the transmission", minimum=0.001, maximum=1.0
        ),
        OptionSpec(
            "gf_radius", "int", 60, help="guided filter radius (0: no refinement)", minimum=0
        ),
        OptionSpec("gf_eps", "float", 1e-4, help="guided filter regularisation", minimum=1e-8),
    ),
)
def dcp(
    *,
    num_classes: int,
    in_channels: int,
    image_size: int,
    patch_size: int,
    omega: float,
    t0: float,
    gf_radius: int,
    gf_eps: float,
) -> DarkChannelPrior:
    if patch_size % 2 == 0:
        raise ModelError(f"option 'patch_size' must be odd for 'dcp'; got {patch_size}")
    return DarkChannelPrior(patch_size, omega, t0, gf_radius, gf_eps)
