"""PNG pictures for people: tensors to images, grids, Grad-CAM overlays, atomic saving.

Everything is drawn with Pillow (and a matplotlib colour map, no pyplot), so it works
headless and fast; files are written to a temporary name and renamed, so a reader never
sees half a PNG.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

GAP = 2  # pixels between tiles
BACKGROUND = (24, 24, 24)


def to_image(x: torch.Tensor) -> Image.Image:
    """(3, H, W) uint8 or [0, 1] float → an RGB image (floats are clamped)."""
    x = x.detach().cpu()
    if x.dtype != torch.uint8:
        x = (x.float().clamp(0, 1) * 255).round().to(torch.uint8)
    return Image.fromarray(x.permute(1, 2, 0).numpy(), "RGB")


def save_png(image: Image.Image, path: Path) -> Path:
    """Write `image` as PNG at `path` atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        image.save(temp, format="PNG")
        os.replace(temp, path)
    finally:
        if temp.exists():
            temp.unlink()
    return path


def upscale(image: Image.Image, min_side: int) -> Image.Image:
    """Nearest-neighbour enlargement so tiny images (16 px) stay visible, pixels crisp."""
    factor = max(1, math.ceil(min_side / max(1, min(image.size))))
    if factor == 1:
        return image
    return image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)


def side_by_side(images: Sequence[Image.Image]) -> Image.Image:
    """Images in one row (each scaled to the first one's height), on a dark background."""
    height = images[0].height
    scaled = [
        im if im.height == height else im.resize((round(im.width * height / im.height), height))
        for im in images
    ]
    width = sum(im.width for im in scaled) + GAP * (len(scaled) - 1)
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    x = 0
    for im in scaled:
        canvas.paste(im, (x, 0))
        x += im.width + GAP
    return canvas


def grid(tiles: Sequence[Image.Image], columns: int | None = None) -> Image.Image:
    """Equal-sized tiles in rows of `columns` (default: about square)."""
    count = len(tiles)
    columns = columns or max(1, math.ceil(math.sqrt(count)))
    rows = math.ceil(count / columns)
    w, h = tiles[0].size
    canvas = Image.new("RGB", (columns * (w + GAP) - GAP, rows * (h + GAP) - GAP), BACKGROUND)
    for i, tile in enumerate(tiles):
        canvas.paste(tile, ((i % columns) * (w + GAP), (i // columns) * (h + GAP)))
    return canvas


def heat_colours(values: np.ndarray) -> np.ndarray:
    """(H, W) in [0, 1] → (H, W, 3) uint8 through the 'inferno' colour map."""
    from matplotlib import colormaps

    rgba = colormaps["inferno"](np.clip(values, 0.0, 1.0))
    return (rgba[..., :3] * 255).round().astype(np.uint8)


def overlay(image: Image.Image, heat: np.ndarray, alpha: float = 0.5) -> Image.Image:
    """`heat` ((H, W) in [0, 1], the image's size) blended over `image`."""
    colours = Image.fromarray(heat_colours(heat), "RGB")
    return Image.blend(image.convert("RGB"), colours, alpha)


def filter_tiles(weight: torch.Tensor, tile: int = 24) -> list[Image.Image]:
    """First-layer filters (out, 3, k, k) as RGB tiles, all on one shared scale so their
    strengths compare (mid-grey = 0)."""
    w = weight.detach().float().cpu()
    if w.shape[1] != 3:
        w = w.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)
    scale = w.abs().max().clamp_min(1e-12)
    pictures = ((w / scale) * 0.5 + 0.5).clamp(0, 1)
    return [to_image(p).resize((tile, tile), Image.Resampling.NEAREST) for p in pictures]


def feature_tiles(maps: torch.Tensor, limit: int, tile: int = 48) -> list[Image.Image]:
    """(C, H, W) activations → up to `limit` grey tiles, each scaled to its own range."""
    tiles = []
    for channel in maps[:limit].detach().float().cpu():
        low, high = channel.min(), channel.max()
        values = (channel - low) / (high - low) if high > low else torch.zeros_like(channel)
        grey = (values * 255).round().to(torch.uint8).numpy()
        picture = Image.fromarray(grey, "L").convert("RGB")
        tiles.append(picture.resize((tile, tile), Image.Resampling.NEAREST))
    return tiles


def caption(image: Image.Image, text: str) -> Image.Image:
    """`image` with a one-line caption strip above it (Pillow's built-in font)."""
    strip = 14
    text_width = int(ImageDraw.Draw(image.copy()).textlength(text)) + 4
    canvas = Image.new("RGB", (max(image.width, text_width), image.height + strip), BACKGROUND)
    ImageDraw.Draw(canvas).text((2, 1), text, fill=(230, 230, 230))
    canvas.paste(image, (0, strip))
    return canvas
