"""Optimiser and learning-rate schedule for a run.

Schedules are pure functions of (step, total steps) wrapped in `LambdaLR` and stepped once
per batch, so a resumed run with more epochs simply stretches the same curve.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from engine.trainer.config import TrainConfig

# One-cycle: warm up over this fraction of the run from lr/25, then anneal to lr/1e4.
ONECYCLE_WARMUP = 0.3
ONECYCLE_START = 1 / 25
ONECYCLE_END = 1e-4


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam (the lab's choice), AdamW, SGD with momentum or with Nesterov momentum.

    With `head_lr_mult` ≠ 1 the classifier head is its own parameter group at lr × mult
    (each group records its `lr_mult`, so a resumed run can restore it).
    """
    from engine.transfer.freeze import parameter_groups

    groups = parameter_groups(model, config.lr, config.head_lr_mult)
    for group in groups:
        group["params"] = [p for p in group["params"] if p.requires_grad]
        group["lr_mult"] = group["lr"] / config.lr
    groups = [g for g in groups if g["params"]]
    if config.optimizer in ("sgd", "nesterov"):
        return torch.optim.SGD(
            groups,
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
            nesterov=config.optimizer == "nesterov" and config.momentum > 0,
        )
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.Adam(groups, lr=config.lr, weight_decay=config.weight_decay)


def lr_factor(schedule: str, step: int, total_steps: int) -> float:
    """Multiplier of the base lr after `step` of `total_steps` optimiser steps."""
    if schedule == "none" or total_steps <= 0:
        return 1.0
    progress = min(max(step / total_steps, 0.0), 1.0)
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    if schedule == "onecycle":
        if progress < ONECYCLE_WARMUP:
            return ONECYCLE_START + (1 - ONECYCLE_START) * progress / ONECYCLE_WARMUP
        down = (progress - ONECYCLE_WARMUP) / (1 - ONECYCLE_WARMUP)
        return ONECYCLE_END + (1 - ONECYCLE_END) * 0.5 * (1 + math.cos(math.pi * down))
    raise ValueError(f"unknown schedule {schedule!r}")


def build_scheduler(
    optimizer: torch.optim.Optimizer, schedule: str, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-batch scheduler following `lr_factor`."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(schedule, step, total_steps)
    )
