"""Unsupervised model-selection scores on unlabelled target images (docs/recipes.md, round 3).

When the images a model will be scored on come from a shifted population, a validation
split drawn from the training population cannot rank recipes by how they do there. These
scores look at the model's predictions on the target images only — never at their labels:
- `class_balance_gap`: total-variation distance between the predicted class histogram and
  a known class prior (a lower bound on the error when the target has that prior);
- `view_agreement`: how often the predicted class survives small translations;
- `mean_entropy`: how unsure the predictions are (reported; easy to game, so not ranked on).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

Predict = Callable[[torch.Tensor], torch.Tensor]  # model-ready images → class probabilities


def class_histogram(predicted: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Fraction of images predicted as each class."""
    counts = torch.bincount(predicted.flatten().long().cpu(), minlength=num_classes).double()
    return counts / max(predicted.numel(), 1)


def class_balance_gap(predicted: torch.Tensor, prior: Sequence[float]) -> float:
    """Total-variation distance between the predicted class histogram and `prior`.

    If the target images have class proportions `prior`, at least this fraction of them is
    misclassified: each wrong prediction moves at most 1/N of the histogram.
    """
    expected = torch.tensor([float(p) for p in prior], dtype=torch.float64)
    expected = expected / expected.sum()
    return 0.5 * (class_histogram(predicted, len(expected)) - expected).abs().sum().item()


def shifted_views(images: torch.Tensor, shift: int) -> list[torch.Tensor]:
    """The images translated by `shift` pixels in each of the four diagonal directions,
    reflection-padded so that no border of a constant colour appears."""
    if shift <= 0:
        return []
    padded = F.pad(images, (shift, shift, shift, shift), mode="reflect")
    h, w = images.shape[-2:]
    corners = ((0, 0), (0, 2 * shift), (2 * shift, 0), (2 * shift, 2 * shift))
    return [padded[..., top : top + h, left : left + w] for top, left in corners]


def view_agreement(predict: Predict, images: torch.Tensor, shift: int) -> float:
    """Mean fraction of images whose predicted class is the same in each shifted view as in
    the image itself (1.0 = every label survives every shift)."""
    base = predict(images).argmax(1)
    views = shifted_views(images, shift)
    if not views:
        return 1.0
    same = [(predict(view).argmax(1) == base).double().mean().item() for view in views]
    return sum(same) / len(same)


def mean_entropy(probabilities: torch.Tensor) -> float:
    """Mean Shannon entropy (nats) of the predicted class distributions."""
    p = probabilities.double().clamp_min(1e-12)
    return -(p * p.log()).sum(1).mean().item()
