"""BatchNorm re-estimation ("AdaBN", Li et al. 2016) on unlabelled images.

A BN layer normalises with running statistics gathered on the training images. When the
images a model is scored on come from a shifted population (night shots, another viewpoint),
those statistics are wrong for them; recomputing them on the target images — no labels,
no gradient, no weight change — recentres every layer for that population. Recipes that use
it must say so: it looks at the (unlabelled) evaluation images.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

_BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _bn_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, _BN_TYPES) and m.track_running_stats]


def has_batchnorm(model: nn.Module) -> bool:
    """True when `model` has at least one BatchNorm layer that tracks running statistics."""
    return bool(_bn_layers(model))


def _batches(inputs: torch.Tensor | Iterable[torch.Tensor], size: int) -> Iterator[torch.Tensor]:
    if isinstance(inputs, torch.Tensor):
        for start in range(0, inputs.shape[0], size):
            yield inputs[start : start + size]
    else:
        yield from inputs


@torch.no_grad()
def adapt_batchnorm(
    model: nn.Module, inputs: torch.Tensor | Iterable[torch.Tensor], *, batch_size: int = 64
) -> int:
    """Replace every BN layer's running mean/var by the statistics of `inputs`.

    `inputs` are model-ready float images (already normalised): one tensor, cut into
    `batch_size` batches, or an iterable of batches. Statistics are the average over batches
    (exact for the mean; batches of one image are skipped: they have no variance). Only BN
    layers switch to training mode; the model is left in eval mode. Returns the number of
    BN layers re-estimated (0: nothing changed, e.g. a model without BN or no images).
    """
    layers = _bn_layers(model)
    model.eval()
    batches = [b for b in _batches(inputs, batch_size) if b.shape[0] >= 2]
    if not layers or not batches:
        return 0
    momenta = [m.momentum for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches
        m.train()
    try:
        for batch in batches:
            model(batch)
    finally:
        for m, momentum in zip(layers, momenta, strict=True):
            m.momentum = momentum
            m.eval()
    return len(layers)


@contextmanager
def batchnorm_adapted(
    model: nn.Module, inputs: torch.Tensor | Iterable[torch.Tensor], *, batch_size: int = 64
) -> Iterator[int]:
    """`adapt_batchnorm` for the duration of a `with` block, then the training statistics
    come back — so evaluation can adapt while training and checkpoints keep the originals."""
    saved = [
        (m, m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone())
        for m in _bn_layers(model)
    ]
    try:
        yield adapt_batchnorm(model, inputs, batch_size=batch_size)
    finally:
        with torch.no_grad():
            for m, mean, var, count in saved:
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
                m.num_batches_tracked.copy_(count)
