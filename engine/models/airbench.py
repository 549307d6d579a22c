"""`airbench`: a fast CIFAR-10 net in the spirit of Keller Jordan's airbench (written anew).

What makes it train in a few epochs:
- a **whitening first layer**: a frozen 2×2 conv whose filters are the eigenvectors of the
  training images' 2×2 patch covariance, scaled by 1/√eigenvalue (and their negatives, so
  the GELU after it keeps both signs) — the net starts on decorrelated inputs. The trainer
  fits it to the training images once (`fit_to_data`), before the first step;
- three conv groups (conv → 2×2 max pool → BN → GELU → conv → BN → GELU), widths
  64 / 256 / 256, convs initialised as identities (Dirac) on their first channels;
- BatchNorm without a learned scale; its bias is stored divided by `BIAS_GAIN` (8) and
  multiplied back in the forward pass, which under SGD gives the biases a 64× learning rate
  with the same weight decay per step (airbench's separate bias learning rate, without a
  second parameter group);
- a bias-free linear head whose logits are scaled by 1/9.
Any input of 9 px or more works (three groups): the last pool is an adaptive max pool.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.models._blocks import CONV_IMPL, check_image_size, make_conv, size_after, widths_option
from engine.models._registry import register_model

WHITEN_KERNEL = 2
WHITEN_EPS = 5e-4
BIAS_GAIN = 8.0  # SGD step on the bias × BIAS_GAIN² = 64
BN_MOMENTUM = 0.4  # torch's convention: weight of the new batch in the running statistics
LOGIT_SCALE = 1 / 9


class ScaledBiasNorm(nn.BatchNorm2d):
    """BatchNorm with a fixed unit scale and a bias stored as bias / BIAS_GAIN."""

    def __init__(self, channels: int):
        super().__init__(channels, eps=1e-12, momentum=BN_MOMENTUM, affine=False)
        self.bias_param = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        out = super().forward(x)
        return out + (self.bias_param * BIAS_GAIN).to(out.dtype).view(1, -1, 1, 1)


def _dirac_conv(cin: int, cout: int, conv_impl: str) -> nn.Module:
    conv = make_conv(cin, cout, 3, padding=1, bias=False, conv_impl=conv_impl)
    with torch.no_grad():
        nn.init.dirac_(conv.weight[: min(cin, cout)])
    return conv


class ConvGroup(nn.Module):
    def __init__(self, cin: int, cout: int, conv_impl: str):
        super().__init__()
        self.conv1 = _dirac_conv(cin, cout, conv_impl)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = ScaledBiasNorm(cout)
        self.conv2 = _dirac_conv(cout, cout, conv_impl)
        self.norm2 = ScaledBiasNorm(cout)
        self.act = nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        x = self.act(self.norm1(self.pool(self.conv1(x))))
        return self.act(self.norm2(self.conv2(x)))


def whitening_filters(
    images: Tensor, kernel: int = WHITEN_KERNEL, eps: float = WHITEN_EPS
) -> Tensor:
    """(2·C·k², C, k, k) filters that whiten the k×k patches of `images` (N, C, H, W):
    the covariance eigenvectors scaled by 1/√(eigenvalue + eps), then their negatives."""
    c = images.shape[1]
    patches = images.float().unfold(2, kernel, 1).unfold(3, kernel, 1)  # N, C, H', W', k, k
    flat = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * kernel * kernel).double()
    covariance = flat.T @ flat / flat.shape[0]
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    order = eigenvalues.argsort(descending=True)
    filters = eigenvectors[:, order].T / (eigenvalues[order] + eps).sqrt().unsqueeze(1)
    filters = filters.reshape(-1, c, kernel, kernel).float()
    return torch.cat([filters, -filters])


class Whitening(nn.Module):
    """The first conv: fixed filters (a buffer, set by `fit`) and a learned bias."""

    def __init__(self, in_channels: int, kernel: int, conv_impl: str):
        super().__init__()
        width = 2 * in_channels * kernel**2
        # Random filters until `fit` (a conv's default init), so an unfitted net still works.
        weight = torch.empty(width, in_channels, kernel, kernel)
        nn.init.kaiming_uniform_(weight, a=5**0.5)
        self.register_buffer("weight", weight)
        self.bias = nn.Parameter(torch.zeros(width))
        self.conv_impl = conv_impl

    @torch.no_grad()
    def fit(self, images: Tensor) -> None:
        filters = whitening_filters(images.to(self.weight.device), self.weight.shape[-1])
        self.weight.copy_(filters.to(self.weight.dtype))

    def forward(self, x: Tensor) -> Tensor:
        if self.conv_impl == "hand":
            from engine.ops.conv import conv2d

            return conv2d(x, self.weight.to(x.dtype), self.bias.to(x.dtype))
        return F.conv2d(x, self.weight.to(x.dtype), self.bias.to(x.dtype))


class AirNet(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, widths: Sequence[int], conv_impl: str):
        super().__init__()
        self.whiten = Whitening(in_channels, WHITEN_KERNEL, conv_impl)
        whiten_width = self.whiten.weight.shape[0]
        self.act = nn.GELU()
        channels = [whiten_width, *widths]
        self.groups = nn.Sequential(
            *(ConvGroup(a, b, conv_impl) for a, b in zip(channels, channels[1:], strict=False))
        )
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(channels[-1], num_classes, bias=False)

    def fit_to_data(self, images: Tensor) -> None:
        """Set the whitening filters from model-ready training images (a few thousand do)."""
        self.whiten.fit(images)

    def forward(self, x: Tensor) -> Tensor:
        x = self.groups(self.act(self.whiten(x)))
        return self.fc(self.pool(x).flatten(1)) * LOGIT_SCALE


@register_model(
    "airbench",
    task="classify",
    description="airbench-style fast CIFAR net: whitening conv, 3 conv groups",
    options=(widths_option((64, 256, 256), help="channels of the three conv groups"), CONV_IMPL),
)
def airbench(
    *, num_classes: int, in_channels: int, image_size: int, widths: list[int], conv_impl: str
) -> AirNet:
    pools = [(WHITEN_KERNEL, 1, 0, 1)] + [(2, 2, 0, 1)] * len(widths)
    check_image_size(
        "airbench",
        image_size,
        lambda s: size_after(s, pools),
        f"a {WHITEN_KERNEL}×{WHITEN_KERNEL} whitening conv and {len(widths)} 2×2 max pools",
    )
    return AirNet(in_channels, num_classes, widths, conv_impl)
