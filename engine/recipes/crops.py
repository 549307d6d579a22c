"""Random crops of image pairs, so a fully convolutional model can train on small patches
of large images (cheap steps, many distinct views) and still be scored on the whole image.
"""

from __future__ import annotations

import torch

from engine.errors import ConfigError


def random_crop_pairs(
    x: torch.Tensor, y: torch.Tensor, size: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One random `size`×`size` window per pair, at the same place in `x` and `y`.

    Works on any dtype (crop the uint8 tensors before converting: less memory traffic).
    `size` equal to the image size returns the inputs unchanged.
    """
    n, _, h, w = x.shape
    if size > min(h, w) or size < 1:
        raise ConfigError(
            {"train_crop": f"must be between 1 and the image size {min(h, w)}, got {size}"}
        )
    if size == h and size == w:
        return x, y
    source = generator.device if generator is not None else torch.device("cpu")
    tops = torch.randint(h - size + 1, (n,), generator=generator, device=source).tolist()
    lefts = torch.randint(w - size + 1, (n,), generator=generator, device=source).tolist()
    places = list(enumerate(zip(tops, lefts, strict=True)))
    xs = [x[i, :, t : t + size, s : s + size] for i, (t, s) in places]
    ys = [y[i, :, t : t + size, s : s + size] for i, (t, s) in places]
    return torch.stack(xs), torch.stack(ys)
