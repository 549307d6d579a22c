"""Builders for small on-disk data sets used by the test_datasets_* files (no tests here).

Images are tiny solid-colour PNGs (lossless, so tests can check exact pixels) unless a test
needs a JPEG; bad files are made the way they occur in the wild: a JPEG cut short, a text
file saved with a .jpg name.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image


def write_image(path: Path, colour=(200, 30, 30), size=(12, 10)) -> Path:
    """A solid-colour image; the format follows the extension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, tuple(int(c) for c in colour)).save(path)
    return path


def write_noise_jpeg(path: Path, size=(48, 40), seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format="JPEG", quality=90)
    return path


def write_truncated_jpeg(path: Path) -> Path:
    """A real JPEG with its second half missing: the header opens, the pixels do not."""
    buffer = io.BytesIO()
    pixels = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95)
    data = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[: len(data) // 2])
    return path


def write_text_as_jpg(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("this is not a picture\n")
    return path


def class_colour(class_index: int, item: int) -> tuple[int, int, int]:
    """A colour that encodes (class, item), so tests can tell which file a pixel came from."""
    return (40 + 60 * class_index, (7 * item) % 256, 100)


def make_class_folders(root: Path, counts: dict[str, int], ext: str = ".png") -> Path:
    """root/<class>/img1..imgN (unpadded numbers, to exercise natural sorting)."""
    for class_index, (name, n) in enumerate(sorted(counts.items())):
        (root / name).mkdir(parents=True, exist_ok=True)
        for item in range(1, n + 1):
            size = (10 + item % 5, 8 + item % 3)  # sizes vary, as in the lab's data
            write_image(root / name / f"img{item}{ext}", class_colour(class_index, item), size)
    return root


HAZE_OFFSET = 50


def pair_colour(item: int) -> tuple[int, int, int]:
    return ((11 * item) % 200, (3 * item) % 200, 60)


def make_pairs(root: Path, n: int, hazy: str = "hazy", clear: str = "clear") -> Path:
    """root/hazy/NNN.png + root/clear/NNN.png; hazy = clear + HAZE_OFFSET in every channel."""
    for item in range(1, n + 1):
        colour = pair_colour(item)
        write_image(root / clear / f"{item:03d}.png", colour, (14, 9))
        write_image(root / hazy / f"{item:03d}.png", [c + HAZE_OFFSET for c in colour], (14, 9))
    return root
