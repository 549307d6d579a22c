"""Evaluation metrics on whole batches: accuracy, confusion matrix, PSNR, SSIM.

All functions are vectorised tensor code that runs on any device; images are float tensors
in [0, 1] with shape (N, C, H, W).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def accuracy(predictions: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of correct labels; `predictions` are labels (N,) or logits (N, K)."""
    if predictions.ndim == 2:
        predictions = predictions.argmax(dim=1)
    if targets.numel() == 0:
        return 0.0
    return (predictions == targets).float().mean().item()


def confusion_matrix(
    predictions: torch.Tensor, targets: torch.Tensor, num_classes: int
) -> torch.Tensor:
    """(K, K) int64 counts: row = true class, column = predicted class."""
    index = targets.long() * num_classes + predictions.long()
    counts = torch.bincount(index.flatten(), minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def per_class_accuracy(confusion: torch.Tensor) -> list[float | None]:
    """Recall of each class (correct / true count); None for a class absent from the set."""
    totals = confusion.sum(dim=1)
    correct = confusion.diagonal()
    return [
        (c / t) if t > 0 else None for c, t in zip(correct.tolist(), totals.tolist(), strict=True)
    ]


def psnr(output: torch.Tensor, target: torch.Tensor, max_value: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image, shape (N,). Identical images give 100 dB."""
    mse = (output.float() - target.float()).pow(2).flatten(1).mean(dim=1)
    return 10 * torch.log10(max_value**2 / mse.clamp_min(1e-10))


def gaussian_window(size: int, sigma: float, channels: int, device=None) -> torch.Tensor:
    """A normalised 2-D gaussian window as a depthwise conv weight (C, 1, size, size)."""
    coords = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    window = torch.outer(g, g)
    return window.expand(channels, 1, size, size).contiguous()


def ssim(
    output: torch.Tensor,
    target: torch.Tensor,
    *,
    window_size: int = 11,
    sigma: float = 1.5,
    max_value: float = 1.0,
) -> torch.Tensor:
    """Structural similarity per image, shape (N,) (Wang et al. 2004, gaussian window).

    Local statistics come from one depthwise convolution over valid windows; images smaller
    than the window use a window as large as the image.
    """
    x, y = output.float(), target.float()
    channels = x.shape[1]
    size = min(window_size, x.shape[-2], x.shape[-1])
    window = gaussian_window(size, sigma, channels, device=x.device)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window, groups=channels)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = (0.01 * max_value) ** 2, (0.03 * max_value) ** 2
    numerator = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    denominator = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return (numerator / denominator).flatten(1).mean(dim=1)
