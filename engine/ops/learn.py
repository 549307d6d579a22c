"""The lab's "learn the edge kernel" demo: recover K = [[1, -1]] by gradient descent.

Runs through the hand-written `conv2d`, so it also exercises its backward pass. The UI
passes `callback` to plot the loss while it falls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from engine.errors import OpError
from engine.ops.conv import conv2d
from engine.ops.reference import corr2d, edge_image

StepCallback = Callable[[int, float, torch.Tensor], None]  # (step from 1, loss, kernel)


@dataclass(frozen=True)
class LearnedKernel:
    """What `learn_kernel` found: the kernel (kh, kw), the scalar bias, loss per step."""

    kernel: torch.Tensor
    bias: float
    losses: list[float]


def learn_kernel(
    x: torch.Tensor | None = None,
    target: torch.Tensor | None = None,
    kernel_size: tuple[int, int] = (1, 2),
    steps: int = 60,
    lr: float = 0.01,
    seed: int = 0,
    callback: StepCallback | None = None,
) -> LearnedKernel:
    """Fit a kernel and bias so that conv(x) ≈ target, with plain gradient descent.

    Defaults to the lab's 6x8 edge image and its output under K = [[1, -1]]; the loss is
    the lab's summed squared error. `seed` makes the random start reproducible without
    touching torch's global generator.
    """
    x = edge_image() if x is None else x.float()
    if x.dim() != 2:
        raise OpError(f"learn_kernel: x must be a 2-D image (H, W), got {tuple(x.shape)}")
    target = corr2d(x, torch.tensor([[1.0, -1.0]])) if target is None else target.float()
    if steps < 1 or lr <= 0:
        raise OpError(f"learn_kernel: steps must be ≥ 1 and lr > 0, got {steps} and {lr}")
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn((1, 1, *kernel_size), generator=generator).requires_grad_()
    bias = torch.randn(1, generator=generator).requires_grad_()
    images = x[None, None]
    with torch.no_grad():
        trial = conv2d(images, weight)
    if trial.shape[-2:] != target.shape[-2:]:
        raise OpError(
            f"learn_kernel: a {kernel_size} kernel maps {tuple(x.shape)} to "
            f"{tuple(trial.shape[-2:])}, but target is {tuple(target.shape)}"
        )
    losses: list[float] = []
    for step in range(1, steps + 1):
        loss = ((conv2d(images, weight, bias)[0, 0] - target) ** 2).sum()
        weight.grad = bias.grad = None
        loss.backward()
        with torch.no_grad():
            weight -= lr * weight.grad
            bias -= lr * bias.grad
        losses.append(loss.item())
        if callback is not None:
            callback(step, losses[-1], weight.detach()[0, 0].clone())
    return LearnedKernel(weight.detach()[0, 0].clone(), bias.item(), losses)
