"""Sample images a person can look at: dehazing triptychs (hazy | output | clear).

The lab asks for several test images shown as input, model output and ground truth side by
side; one PNG per test image and epoch keeps each file small enough for a terminal viewer.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from engine.runs.files import write_bytes_atomic, write_failure

GAP = 2  # white pixels between the three panels
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def to_uint8_image(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) tensor, uint8 or float in [0, 1] → (H, W, 3) uint8 array."""
    image = image.detach().cpu()
    if image.dtype != torch.uint8:
        image = (image.float().clamp(0, 1) * 255).round().to(torch.uint8)
    return image.permute(1, 2, 0).numpy()


def triptych(hazy: torch.Tensor, output: torch.Tensor, clear: torch.Tensor) -> Image.Image:
    """One image: hazy | output | clear, separated by thin white gaps."""
    panels = [to_uint8_image(t) for t in (hazy, output, clear)]
    height = panels[0].shape[0]
    gap = np.full((height, GAP, 3), 255, dtype=np.uint8)
    row = np.concatenate([panels[0], gap, panels[1], gap, panels[2]], axis=1)
    return Image.fromarray(row)


def save_dehaze_samples(
    hazy: torch.Tensor,
    outputs: torch.Tensor,
    clear: torch.Tensor,
    names: list[str],
    epoch: int,
    folder: Path,
) -> list[str]:
    """Write one triptych PNG per image into `folder`; returns the paths written
    (`StorageError` when the disk refuses one)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_failure(exc, folder) from exc
    paths = []
    for index in range(hazy.shape[0]):
        name = names[index] if index < len(names) else f"{index}"
        stem = _UNSAFE.sub("_", Path(name).stem)[:40] or str(index)
        path = folder / f"epoch{epoch:03d}_{index}_{stem}.png"
        encoded = io.BytesIO()
        triptych(hazy[index], outputs[index], clear[index]).save(encoded, format="PNG")
        write_bytes_atomic(path, encoded.getbuffer())  # a full disk leaves no half PNG
        paths.append(str(path))
    return paths
