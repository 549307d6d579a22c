"""Self-training on the unlabelled images a run is scored on (opt-in, transductive).

`pseudo_label=τ` > 0: from the second half of training, each epoch predicts the val and test
images (with the run's TTA and, if set, BatchNorm re-estimated on each split, exactly as
they are scored) and adds those predicted with softmax ≥ τ to the training pool under their
predicted class. Labels are never read. It lets the net fit the look of the images it will
be scored on (the vehicles test split is another population), and it uses the test images:
a recipe that sets it must say so, as for `bn_adapt`.
"""

from __future__ import annotations

import torch

from engine.recipes import batchnorm_adapted, has_batchnorm, tta_logits
from engine.trainer.device import autocast, batch_to
from engine.trainer.epoch import Parts
from engine.trainer.setup import DeviceData


@torch.no_grad()
def confident_labels(
    parts: Parts, x: torch.Tensor, threshold: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(images, predicted classes) of the uint8 images `x` predicted with softmax ≥ threshold."""
    if x.shape[0] == 0:
        return x, torch.empty(0, dtype=torch.int64, device=x.device)
    parts.model.eval()
    dummy = torch.zeros(x.shape[0], dtype=torch.int64, device=x.device)
    size = parts.batch_size
    inputs = [
        parts.task.prepare(*batch_to(parts.device, x[i : i + size], dummy[i : i + size]), None)[0]
        for i in range(0, x.shape[0], size)
    ]

    def probabilities() -> torch.Tensor:
        out = []
        for batch in inputs:
            with autocast(parts.device, parts.amp_dtype):
                out.append(tta_logits(parts.model, batch, parts.tta).float().softmax(1))
        return torch.cat(out)

    if parts.bn_adapt and has_batchnorm(parts.model):
        with batchnorm_adapted(parts.model, inputs):
            prob = probabilities()
    else:
        prob = probabilities()
    confidence, predicted = prob.max(1)
    keep = (confidence >= threshold).to(x.device)  # x may stay in host memory (batch_to)
    return x[keep], predicted.to(x.device)[keep]


def training_pool(
    parts: Parts, data: DeviceData, threshold: float
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Training images plus the confident val and test images: (x, y, images added)."""
    xs, ys = [data.train[0]], [data.train[1]]
    for split in (data.val, data.test):
        x, y = confident_labels(parts, split[0], threshold)
        xs.append(x)
        ys.append(y.to(data.train[1].device))
    added = sum(x.shape[0] for x in xs[1:])
    return torch.cat(xs), torch.cat(ys), added


def pseudo_label_epoch(epoch: int, epochs: int, threshold: float) -> bool:
    """Whether `epoch` (from 1) self-trains: τ > 0 and the second half of the run."""
    return threshold > 0 and epoch > epochs // 2
