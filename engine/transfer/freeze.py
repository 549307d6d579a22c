"""Fine-tuning helpers: freeze the backbone for the first epochs, and give the head its own
learning rate.

A head re-initialised on a pretrained body starts with large, random gradients; training it
alone for a few epochs (`freeze_epochs`), or faster than the body (`head_lr_mult`), keeps
those gradients from wrecking the pretrained features before the head is any good.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from engine.transfer.load import head_keys


def split_parameters(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(backbone, head) parameters; the head is the last `nn.Linear` (`head_keys`)."""
    head_names = set(head_keys(model))
    backbone, head = [], []
    for name, param in model.named_parameters():
        (head if name in head_names else backbone).append(param)
    return backbone, head


def set_backbone_frozen(model: nn.Module, frozen: bool) -> int:
    """Stop (or restart) gradients for every parameter outside the head; returns how many
    parameter tensors changed. BatchNorm layers keep updating their running statistics."""
    backbone, _ = split_parameters(model)
    changed = sum(1 for p in backbone if p.requires_grad == frozen)
    for param in backbone:
        param.requires_grad_(not frozen)
    return changed


def backbone_frozen(epoch: int, freeze_epochs: int) -> bool:
    """Whether epoch `epoch` (counting from 1) trains the head alone."""
    return epoch <= freeze_epochs


def parameter_groups(
    model: nn.Module, lr: float, head_lr_mult: float = 1.0
) -> list[dict[str, Any]]:
    """Optimiser parameter groups: the backbone at `lr`, the head at `lr × head_lr_mult`.

    Every parameter is included, frozen or not, so unfreezing later needs no new optimiser
    (a parameter without a gradient is skipped by the step). One group when the multiplier
    is 1, as before.
    """
    if head_lr_mult == 1.0:
        return [{"params": list(model.parameters()), "lr": lr}]
    backbone, head = split_parameters(model)
    groups = [{"params": backbone, "lr": lr}, {"params": head, "lr": lr * head_lr_mult}]
    return [g for g in groups if g["params"]]
