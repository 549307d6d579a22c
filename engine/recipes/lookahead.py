"""Lookahead with an EMA of the weights, as airbench trains: every few steps the running
average moves toward the current weights and the weights jump back onto the average.

The average's decay grows with training (decay = base · (step / total)³), so early steps
are barely smoothed and late ones strongly: the end of training is an average over many
noisy SGD iterates, at no extra cost per step. At the end the weights become the average.
"""

from __future__ import annotations

import torch
from torch import nn

EVERY = 5
BASE_DECAY = 0.95**5
POWER = 3


class Lookahead:
    """Keeps an EMA copy of `model`'s floating-point state (weights and BN statistics)."""

    def __init__(self, model: nn.Module, total_steps: int, every: int = EVERY):
        self.total_steps = max(int(total_steps), 1)
        self.every = every
        self.average = {k: v.detach().clone() for k, v in self._floats(model).items()}

    @staticmethod
    def _floats(model: nn.Module) -> dict[str, torch.Tensor]:
        return {k: v for k, v in model.state_dict().items() if v.is_floating_point()}

    def decay(self, step: int) -> float:
        return BASE_DECAY * min(step / self.total_steps, 1.0) ** POWER

    @torch.no_grad()
    def step(self, model: nn.Module, step: int) -> bool:
        """Call after optimiser step `step` (from 1); True when this step synchronised."""
        if step % self.every:
            return False
        self._sync(model, self.decay(step))
        return True

    @torch.no_grad()
    def finish(self, model: nn.Module) -> None:
        """Put the averaged weights into the model (training is over)."""
        self._sync(model, 1.0)

    def _sync(self, model: nn.Module, decay: float) -> None:
        for key, value in self._floats(model).items():
            average = self.average[key]
            average.lerp_(value.to(average.dtype), 1 - decay)
            value.copy_(average)
