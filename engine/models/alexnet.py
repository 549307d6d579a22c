"""AlexNet (Krizhevsky et al. 2012) adapted to small inputs, full or width-reduced.

The five conv layers (64/192/384/256/256), three 3×3/2 max pools and the 4096-4096 dropout
classifier are kept, so `width=1.0` has the ~57M parameters the lab mentions. The 11×11/4
stem, made for 224 px, would leave nothing of a 32 px image, so the stem kernel and stride
are options (5×5/1 by default — the lab allows changing them); 11 and 4 restore the original.
`width` scales every conv and hidden layer, e.g. 0.25 for a CPU-sized net.
"""

from __future__ import annotations

from torch import Tensor, nn

from engine.models._blocks import CONV_IMPL, check_image_size, make_conv, size_after
from engine.models._options import OptionSpec
from engine.models._registry import register_model

CONV_WIDTHS = (64, 192, 384, 256, 256)
HIDDEN = 4096
POOL = (3, 2, 0, 1)  # kernel, stride, padding, dilation of AlexNet's overlapping max pool


class AlexNet(nn.Module):
    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        width: float,
        stem_kernel: int,
        stem_stride: int,
        pool_size: int,
        dropout: float,
        conv_impl: str,
    ) -> None:
        super().__init__()
        c1, c2, c3, c4, c5 = (scaled(c, width) for c in CONV_WIDTHS)
        hidden = scaled(HIDDEN, width)

        def conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Module:
            return make_conv(cin, cout, k, stride=stride, padding=k // 2, conv_impl=conv_impl)

        pool = nn.MaxPool2d(kernel_size=3, stride=2)
        self.features = nn.Sequential(
            conv(in_channels, c1, stem_kernel, stem_stride),
            nn.ReLU(inplace=True),
            pool,
            conv(c1, c2, 5),
            nn.ReLU(inplace=True),
            pool,
            conv(c2, c3, 3),
            nn.ReLU(inplace=True),
            conv(c3, c4, 3),
            nn.ReLU(inplace=True),
            conv(c4, c5, 3),
            nn.ReLU(inplace=True),
            pool,
        )
        self.pool = nn.AdaptiveAvgPool2d(pool_size)
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(c5 * pool_size * pool_size, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self.pool(self.features(x))
        return self.classifier(out.flatten(1))


def scaled(channels: int, width: float) -> int:
    """`channels` × `width`, rounded, never below 1."""
    return max(1, round(channels * width))


def feature_size(image_size: int, stem_kernel: int, stem_stride: int) -> int:
    """Side of AlexNet's last feature map: the later convs (odd k, padding k//2) keep the
    size, so only the stem and the three pools shrink it."""
    stem = (stem_kernel, stem_stride, stem_kernel // 2, 1)
    return size_after(image_size, [stem, POOL, POOL, POOL])


@register_model(
    "alexnet",
    task="classify",
    description="AlexNet for small inputs; width 1.0 full (~57M), 0.25 reduced",
    options=(
        OptionSpec(
            "width",
            "float",
            1.0,
            help="scales every layer's channels (1.0 full, 0.25 reduced)",
            minimum=0.01,
            maximum=4.0,
        ),
        OptionSpec(
            "stem_kernel", "int", 5, help="first conv's kernel (11 in the original)", minimum=1
        ),
        OptionSpec(
            "stem_stride", "int", 1, help="first conv's stride (4 in the original)", minimum=1
        ),
        OptionSpec(
            "pool_size",
            "int",
            6,
            help="side of the adaptive average pool before the classifier (6 in the original)",
            minimum=1,
            maximum=16,
        ),
        OptionSpec(
            "dropout", "float", 0.5, help="dropout in the classifier", minimum=0.0, maximum=0.99
        ),
        CONV_IMPL,
    ),
)
def alexnet(
    *,
    num_classes: int,
    in_channels: int,
    image_size: int,
    width: float,
    stem_kernel: int,
    stem_stride: int,
    pool_size: int,
    dropout: float,
    conv_impl: str,
) -> AlexNet:
    check_image_size(
        "alexnet",
        image_size,
        lambda s: feature_size(s, stem_kernel, stem_stride),
        f"a {stem_kernel}×{stem_kernel}/{stem_stride} stem and three 3×3/2 max pools",
    )
    return AlexNet(
        in_channels,
        num_classes,
        width=width,
        stem_kernel=stem_kernel,
        stem_stride=stem_stride,
        pool_size=pool_size,
        dropout=dropout,
        conv_impl=conv_impl,
    )
