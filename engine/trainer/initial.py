"""A new run's starting weights, and the fine-tuning schedule of which ones train.

Before the first step: models with a data-dependent first layer (`fit_to_data`, e.g.
`airbench`'s whitening conv) are fitted to the training images, then `init_from` loads
other weights (`engine.transfer`: a run, a file, torchvision, or a preset's run, trained
first when missing). During training: `freeze_epochs` keeps the backbone frozen for the
first epochs. A resumed run skips the first two (its checkpoint has the weights).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.trainer.config import TrainConfig
from engine.trainer.device import batch_to
from engine.trainer.epoch import Parts
from engine.trainer.tasks import TrainingTask
from engine.transfer import backbone_frozen, initialise, set_backbone_frozen
from engine.transfer.pretrain import ensure_pretraining

FIT_IMAGES = 5000  # training images a data-dependent layer is fitted on (airbench's count)

Log = Callable[[str], None]


@torch.no_grad()
def fit_to_data(model: nn.Module, task: TrainingTask, train_x: torch.Tensor, device) -> bool:
    """Fit a model's data-dependent layers to model-ready training images; False if none."""
    fit = getattr(model, "fit_to_data", None)
    if fit is None or train_x.shape[0] == 0:
        return False
    x = train_x[:FIT_IMAGES]
    dummy = torch.zeros(x.shape[0], dtype=torch.int64, device=x.device)
    inputs, _ = task.prepare(*batch_to(device, x, dummy), None)
    fit(inputs)
    return True


def load_initial_weights(
    config: TrainConfig,
    model: nn.Module,
    classes: list[str],
    runs_dir: Path,
    *,
    download: bool,
    train: Callable[[TrainConfig], tuple[str, str]],
    log: Log,
) -> dict[str, Any] | None:
    """Apply `init_from` to `model` and log the report; returns the report's summary."""
    if not config.init_from:
        return None
    spec = ensure_pretraining(
        config.init_from,
        seed=config.seed,
        data_root=config.data_root,
        runs_dir=runs_dir,
        train=train,
        log=log,
    )
    report = initialise(
        model, spec, classes=classes if classes else None, runs_dir=runs_dir, download=download
    )
    for line in report.lines():
        log(line)
    return report.to_dict()


def update_freezing(parts: Parts, epoch: int, freeze_epochs: int, log: Log) -> None:
    """Freeze the backbone for epochs 1..freeze_epochs, unfreeze after (logged once each)."""
    if freeze_epochs <= 0:
        return
    frozen = backbone_frozen(epoch, freeze_epochs)
    if set_backbone_frozen(parts.model, frozen):
        state = "frozen: only the head trains" if frozen else "unfrozen: every layer trains"
        log(f"epoch {epoch}: backbone {state}")
