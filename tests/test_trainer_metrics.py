"""Metrics against independent references: counts by hand, PSNR by formula, SSIM by loops."""

from __future__ import annotations

import math

import pytest
import torch

from engine.trainer.metrics import (
    accuracy,
    confusion_matrix,
    gaussian_window,
    per_class_accuracy,
    psnr,
    ssim,
)


def test_accuracy_and_confusion():
    targets = torch.tensor([0, 0, 1, 1, 2, 2])
    predictions = torch.tensor([0, 1, 1, 1, 0, 2])
    assert accuracy(predictions, targets) == pytest.approx(4 / 6)
    logits = torch.nn.functional.one_hot(predictions, 3).float()
    assert accuracy(logits, targets) == pytest.approx(4 / 6)
    confusion = confusion_matrix(predictions, targets, 3)
    assert confusion.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert per_class_accuracy(confusion) == [0.5, 1.0, 0.5]
    absent = confusion_matrix(torch.tensor([0]), torch.tensor([0]), 2)
    assert per_class_accuracy(absent) == [1.0, None]


def test_psnr_by_formula():
    clean = torch.zeros(2, 3, 8, 8)
    noisy = clean.clone()
    noisy[0] += 0.1  # mse 0.01 → 20 dB
    assert psnr(noisy, clean).tolist() == pytest.approx([20.0, 100.0])


def _ssim_by_loops(x: torch.Tensor, y: torch.Tensor, size: int = 11) -> float:
    """Straightforward per-window SSIM (valid windows, gaussian weights), one image."""
    w = gaussian_window(size, 1.5, 1)[0, 0].double()
    c1, c2 = 0.01**2, 0.03**2
    values = []
    for c in range(x.shape[0]):
        for i in range(x.shape[1] - size + 1):
            for j in range(x.shape[2] - size + 1):
                a = x[c, i : i + size, j : j + size].double()
                b = y[c, i : i + size, j : j + size].double()
                mu_a, mu_b = (w * a).sum(), (w * b).sum()
                var_a = (w * (a - mu_a) ** 2).sum()
                var_b = (w * (b - mu_b) ** 2).sum()
                cov = (w * (a - mu_a) * (b - mu_b)).sum()
                num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
                den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
                values.append((num / den).item())
    return sum(values) / len(values)


def test_ssim_matches_a_loop_reference_and_orders_by_damage():
    generator = torch.Generator().manual_seed(0)
    clean = torch.rand(2, 3, 16, 16, generator=generator)
    light = (clean + 0.05 * torch.randn(clean.shape, generator=generator)).clamp(0, 1)
    heavy = (clean + 0.3 * torch.randn(clean.shape, generator=generator)).clamp(0, 1)
    fast = ssim(light, clean)
    assert fast.shape == (2,)
    for n in range(2):
        assert fast[n].item() == pytest.approx(_ssim_by_loops(light[n], clean[n]), abs=1e-5)
    assert ssim(clean, clean).tolist() == pytest.approx([1.0, 1.0])
    assert (ssim(heavy, clean) < fast).all()


def test_ssim_on_images_smaller_than_the_window():
    image = torch.rand(1, 3, 6, 6)
    assert ssim(image, image).item() == pytest.approx(1.0)
    assert math.isfinite(ssim(image, 1 - image).item())
