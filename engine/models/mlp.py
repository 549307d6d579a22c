"""The feed-forward baseline of the previous lab (`mlp`): flatten, hidden layers, linear.

Kept next to the conv models so the lab's "conv vs. fully connected" comparison is one
option away. Unlike the conv nets its first layer's size depends on `image_size`, so it
only accepts images of exactly that size.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from engine.errors import ModelError
from engine.models._options import OptionSpec
from engine.models._registry import register_model

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


class MLP(nn.Module):
    def __init__(
        self,
        input_shape: tuple[int, int, int],
        num_classes: int,
        hidden: Sequence[int],
        activation: str,
        dropout: float,
    ) -> None:
        super().__init__()
        self.input_shape = tuple(input_shape)
        in_features = input_shape[0] * input_shape[1] * input_shape[2]
        layers: list[nn.Module] = [nn.Flatten()]
        for width in hidden:
            layers += [nn.Linear(in_features, width), ACTIVATIONS[activation]()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            in_features = width
        layers.append(nn.Linear(in_features, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if tuple(x.shape[1:]) != self.input_shape:
            raise ModelError(
                f"mlp was built for inputs of shape {self.input_shape} (set by in_channels and "
                f"image_size) but got {tuple(x.shape[1:])}"
            )
        return self.net(x)


@register_model(
    "mlp",
    task="classify",
    description="Feed-forward baseline: flatten, hidden 512-256, linear",
    options=(
        OptionSpec("hidden", "list[int]", (512, 256), help="units of each hidden layer", minimum=1),
        OptionSpec(
            "activation",
            "choice",
            "relu",
            help="activation after each hidden layer",
            choices=tuple(ACTIVATIONS),
        ),
        OptionSpec(
            "dropout",
            "float",
            0.0,
            help="dropout after each hidden layer",
            minimum=0.0,
            maximum=0.99,
        ),
    ),
)
def mlp(
    *,
    num_classes: int,
    in_channels: int,
    image_size: int,
    hidden: list[int],
    activation: str,
    dropout: float,
) -> MLP:
    return MLP((in_channels, image_size, image_size), num_classes, hidden, activation, dropout)
