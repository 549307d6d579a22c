"""Normalisation and augmentation on whole batches of tensors, on any device.

Everything here is vectorised over the batch (random parameters are drawn per image, then
applied with broadcasting and `gather`), so augmenting costs a few kernel launches per
batch rather than a Python loop per image, and runs wherever the batch lives.

Order in a training step: `to_float(x_uint8, normalize, mean=…, std=…)` then
`augment_batch(x, policy, generator)`. The colour jitter of "strong" is written to be
valid in any affine value range (it works relative to each image's own mean, spread and
min/max), so it is correct on [0, 1] images and on normalised ones alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from engine.errors import DatasetError
from engine.trainer.config import AUGMENTATIONS, NORMALIZATIONS

CROP_PADDING = 4
_LUMA = (0.299, 0.587, 0.114)


def _check_choice(kind: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise DatasetError(f"unknown {kind} {value!r}; choose one of {', '.join(choices)}")


def to_float(
    x: torch.Tensor,
    normalize: str = "none",
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> torch.Tensor:
    """uint8 images (N, C, H, W) → float32, normalised as asked.

    normalize: "dataset" (per-channel mean/std of the train split: pass `bundle.mean` and
    `bundle.std`), "lab" ((x − 0.5) / 0.5, as the lab's transforms), "image" (each image
    standardised to zero mean, unit std) or "none" (values in [0, 1]).
    """
    _check_choice("normalization", normalize, NORMALIZATIONS)
    out = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    if normalize == "none":
        return out
    if normalize == "lab":
        return (out - 0.5) / 0.5
    if normalize == "image":
        per_image = out.flatten(1)
        centre = per_image.mean(dim=1).view(-1, 1, 1, 1)
        floor = 1.0 / math.sqrt(per_image.shape[1])  # flat images must not blow up
        spread = per_image.std(dim=1, unbiased=False).clamp_min(floor).view(-1, 1, 1, 1)
        return (out - centre) / spread
    if mean is None or std is None:
        raise DatasetError(
            "normalize='dataset' needs the training split's mean and std "
            "(pass mean=bundle.mean, std=bundle.std)"
        )
    mean_t = torch.as_tensor(mean, dtype=out.dtype, device=out.device).view(1, -1, 1, 1)
    std_t = torch.as_tensor(std, dtype=out.dtype, device=out.device).view(1, -1, 1, 1)
    return (out - mean_t) / std_t


def _rand(shape: tuple[int, ...], g: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """Uniform [0, 1) numbers drawn on the generator's device, then moved to `device`."""
    source = g.device if g is not None else torch.device("cpu")
    return torch.rand(shape, generator=g, device=source).to(device)


def _uniform(shape, low: float, high: float, g, device) -> torch.Tensor:
    return low + (high - low) * _rand(shape, g, device)


def _geometric(
    tensors: list[torch.Tensor], policy: str, g: torch.Generator | None
) -> list[torch.Tensor]:
    """One random crop (crop_flip/strong) and horizontal flip, shared by all `tensors`."""
    if policy == "none":
        return tensors
    first = tensors[0]
    n, _, h, w = first.shape
    device = first.device
    if policy in ("crop_flip", "strong"):
        pad = min(CROP_PADDING, h - 1, w - 1)
        if pad > 0:
            dy = (_rand((n,), g, device) * (2 * pad + 1)).long().clamp_max(2 * pad)
            dx = (_rand((n,), g, device) * (2 * pad + 1)).long().clamp_max(2 * pad)
            rows = dy[:, None] + torch.arange(h, device=device)  # (N, H)
            cols = dx[:, None] + torch.arange(w, device=device)  # (N, W)
            tensors = [_crop(t, pad, rows, cols) for t in tensors]
    flip = (_rand((n,), g, device) < 0.5).view(n, 1, 1, 1)
    return [torch.where(flip, t.flip(-1), t) for t in tensors]


def _crop(x: torch.Tensor, pad: int, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Reflect-pad by `pad` and cut one H×W window per image at (rows, cols) offsets."""
    n, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    row_index = rows.view(n, 1, h, 1).expand(n, c, h, w + 2 * pad)
    picked = padded.gather(2, row_index)
    col_index = cols.view(n, 1, 1, w).expand(n, c, h, w)
    return picked.gather(3, col_index)


def _grey(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] != 3:
        return x.mean(dim=1, keepdim=True)
    weights = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True)


def _colour_jitter(x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    """Brightness, contrast, saturation, gamma and random greyscale, range-agnostic."""
    n, device = x.shape[0], x.device
    shape = (n, 1, 1, 1)
    centre = x.mean(dim=(1, 2, 3), keepdim=True)
    spread = x.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    x = x + _uniform(shape, -0.4, 0.4, g, device) * spread  # brightness
    x = (x - centre) * _uniform(shape, 0.7, 1.3, g, device) + centre  # contrast
    grey = _grey(x)
    x = grey + (x - grey) * _uniform(shape, 0.6, 1.4, g, device)  # saturation
    low = x.amin(dim=(1, 2, 3), keepdim=True)
    span = (x.amax(dim=(1, 2, 3), keepdim=True) - low).clamp_min(1e-6)
    gamma = torch.exp(_uniform(shape, math.log(0.7), math.log(1.4), g, device))
    x = low + span * ((x - low) / span).clamp(0, 1) ** gamma  # gamma on the image's own range
    to_grey = _rand(shape, g, device) < 0.1
    return torch.where(to_grey, _grey(x).expand_as(x), x)


def _cutout(x: torch.Tensor, g: torch.Generator | None, probability: float = 0.5) -> torch.Tensor:
    """Fill one square of side S/4 per image (with probability p) with the image's mean."""
    n, _, h, w = x.shape
    device = x.device
    side_h, side_w = max(1, h // 4), max(1, w // 4)
    cy = (_rand((n,), g, device) * h).long().view(n, 1, 1, 1)
    cx = (_rand((n,), g, device) * w).long().view(n, 1, 1, 1)
    ys = torch.arange(h, device=device).view(1, 1, h, 1)
    xs = torch.arange(w, device=device).view(1, 1, 1, w)
    box = ((ys - cy).abs() * 2 < side_h) & ((xs - cx).abs() * 2 < side_w)
    box = box & (_rand((n,), g, device) < probability).view(n, 1, 1, 1)
    return torch.where(box, x.mean(dim=(1, 2, 3), keepdim=True), x)


def augment_batch(
    x: torch.Tensor, policy: str = "none", generator: torch.Generator | None = None
) -> torch.Tensor:
    """Augment a float batch (N, C, H, W) with one policy; returns a new tensor.

    none; flip (horizontal, p = 0.5); crop_flip (reflect-pad 4, random crop back to H×W,
    flip); strong (crop_flip + brightness/contrast/saturation/gamma jitter, greyscale with
    p = 0.1, cutout of an S/4 square with p = 0.5). `generator` makes it reproducible.
    """
    _check_choice("augmentation", policy, AUGMENTATIONS)
    if policy == "none" or x.shape[0] == 0:
        return x
    (x,) = _geometric([x], policy, generator)
    if policy == "strong":
        x = _cutout(_colour_jitter(x, generator), generator)
    return x


def augment_pair(
    x: torch.Tensor, y: torch.Tensor, policy: str = "none", generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment (hazy, clear) batches with the *same* geometric transform per pair.

    "strong" adds one per-channel gain in [0.75, 1] applied to both images: the haze model
    I = J·t + A·(1 − t) is linear per channel, so k·I is exactly the hazy image of k·J
    under airlight k·A, and values stay in [0, 1]. Photometric jitter that breaks this
    relation (gamma, saturation, cutout) is left out on purpose.
    """
    _check_choice("augmentation", policy, AUGMENTATIONS)
    if x.shape != y.shape:
        raise DatasetError(
            f"augment_pair needs equal shapes, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if policy == "none" or x.shape[0] == 0:
        return x, y
    x, y = _geometric([x, y], policy, generator)
    if policy == "strong":
        gain = _uniform((x.shape[0], x.shape[1], 1, 1), 0.75, 1.0, generator, x.device)
        x, y = x * gain, y * gain
    return x, y
