"""Decode image files into one uint8 tensor, skipping (and reporting) the bad ones.

Images become S×S in one of two ways (`RESIZE_MODES`): "stretch", as the lab does (the
aspect ratio is lost), or "letterbox": the longer side is scaled to S, the aspect ratio
kept, and the short side padded with mid-grey on both sides (centred). The crop's shape is
a cue that survives lighting and viewpoint shifts (vehicles: cars are about square, buses
and trucks taller than wide), and stretching throws it away. Mid-grey, not black, so the
padding does not look like a night shot and sits near zero after normalisation. Both use
Pillow's antialiased bilinear resize. JPEGs are decoded with `Image.draft`, which lets libjpeg
scale by 1/2–1/8 while decoding: a 500×400 dehaze photo needed at 64 px decodes ~10×
faster. Decoding runs in a thread pool because Pillow releases the GIL while it works.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps

from engine.datasets.listing import is_image_name
from engine.errors import DatasetError
from engine.trainer.config import RESIZE_MODES

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int, str], None]

# Pillow failures that mean "this file is not a usable image" rather than a bug here.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)
# At most this many progress callbacks per decode, so a UI is not flooded.
_PROGRESS_STEPS = 100
# Letterbox padding: mid-grey (see the module docstring).
PAD_FILL = (128, 128, 128)


@dataclass
class DecodedImages:
    """Result of decoding a list of files: images for the good ones, reasons for the rest.

    `names[i]` is the (relative) name of `images[i]`; `skipped` holds (name, reason).
    """

    names: list[str]
    images: torch.Tensor
    skipped: list[tuple[str, str]]


def check_resize(resize: str) -> None:
    """`DatasetError` for an unknown mode (before decoding, so no file is "skipped" for it)."""
    if resize not in RESIZE_MODES:
        raise DatasetError(f"resize must be one of {', '.join(RESIZE_MODES)}, not {resize!r}")


def letterbox_size(width: int, height: int, image_size: int) -> tuple[int, int]:
    """(w, h) of the content when the longer side becomes `image_size` (each side ≥ 1)."""
    scale = image_size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def resize_rgb(rgb: Image.Image, image_size: int, resize: str = "stretch") -> Image.Image:
    """An RGB image made S×S by `resize` ("stretch" or "letterbox", see the module doc)."""
    if resize == "stretch":
        if rgb.size == (image_size, image_size):
            return rgb
        return rgb.resize((image_size, image_size), Image.Resampling.BILINEAR)
    check_resize(resize)
    size = letterbox_size(*rgb.size, image_size)
    content = rgb if rgb.size == size else rgb.resize(size, Image.Resampling.BILINEAR)
    canvas = Image.new("RGB", (image_size, image_size), PAD_FILL)
    canvas.paste(content, ((image_size - size[0]) // 2, (image_size - size[1]) // 2))
    return canvas


def decode_image(path: Path, image_size: int, resize: str = "stretch") -> np.ndarray:
    """One file → (S, S, 3) uint8 RGB array; raises a Pillow error on a bad file.

    `.load()` is called explicitly so a truncated file fails here, inside the caller's
    `try`, instead of being half-decoded later. EXIF orientation is applied, so a phone
    photo stored sideways is not learned sideways. JPEG draft mode keeps both sides ≥ S,
    which is what either resize mode needs.
    """
    rgb = open_rgb(path, draft_size=image_size)
    return np.asarray(resize_rgb(rgb, image_size, resize), dtype=np.uint8)


def open_rgb(path: Path, draft_size: int | None = None) -> Image.Image:
    """One file as an upright RGB image at its own size (JPEGs decoded at ≥ `draft_size`
    per side when given); raises a Pillow error on a bad file, as `decode_image`."""
    with Image.open(path) as image:
        if draft_size is not None and image.format == "JPEG":
            image.draft("RGB", (draft_size, draft_size))
        image.load()
        return to_rgb(ImageOps.exif_transpose(image))


def read_rgb(path: Path) -> Image.Image | str:
    """`open_rgb` at full size, or the reason the file is skipped (the words `decode_files`
    uses), for callers that keep each image's own size."""
    path = Path(path)
    if not is_image_name(path):
        return f"not an image file type ({path.suffix or 'no extension'})"
    try:
        with strict_truncation():
            return open_rgb(path)
    except _DECODE_ERRORS as error:
        return _describe(error)


# Single-channel modes Pillow uses for 16-bit PNG / TIFF files (and "I" for some of them).
_WIDE_GREY_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB with 8 bits per channel. 16-bit grey images are scaled (65535 → 255); Pillow's
    own `convert("RGB")` clips them instead, turning everything above 255 white."""
    if image.mode in _WIDE_GREY_MODES:
        wide = np.asarray(image).astype(np.int64)
        # "I" is 32-bit: only values beyond 8 bits that fit 16 are read as a 16-bit image.
        if image.mode != "I" or (wide.min(initial=0) >= 0 and 255 < wide.max(initial=0) <= 65535):
            grey = ((np.clip(wide, 0, 65535) * 255 + 32767) // 65535).astype(np.uint8)
            return Image.fromarray(grey, mode="L").convert("RGB")
    return image.convert("RGB")


def _describe(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    if "truncated" in text.lower():
        return f"truncated or damaged image ({text})"
    if "cannot identify image file" in text.lower():
        return "not a decodable image (Pillow cannot identify it)"
    return f"cannot decode: {text}"


def _try_decode(path: Path, image_size: int, resize: str) -> np.ndarray | str:
    """The decoded array, or the reason the file was skipped."""
    try:
        return decode_image(path, image_size, resize)
    except _DECODE_ERRORS as error:
        return _describe(error)


@contextlib.contextmanager
def strict_truncation() -> Iterator[None]:
    """Make sure Pillow refuses truncated files while we decode (it does by default).

    If another library switched `LOAD_TRUNCATED_IMAGES` on, a truncated JPEG would come
    back half grey; we switch it off for the duration and put it back afterwards.
    """
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    if previous:
        log.warning("Pillow's LOAD_TRUNCATED_IMAGES was on; turned off while decoding")
        ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def decode_files(
    base: Path,
    names: Sequence[str],
    image_size: int,
    *,
    progress: ProgressFn | None = None,
    message: str = "decoding images",
    workers: int | None = None,
    resize: str = "stretch",
) -> DecodedImages:
    """Decode `base/name` for every name, in order, skipping files that fail.

    Files without an image extension are skipped without being opened. `progress` is
    called with (done, total, message) from the calling thread; an exception it raises
    aborts decoding (a UI can use that to cancel). `resize` is one of `RESIZE_MODES`.
    """
    check_resize(resize)
    total = len(names)
    workers = workers or min(8, (os.cpu_count() or 1) + 1)
    step = max(1, total // _PROGRESS_STEPS)
    arrays: list[np.ndarray] = []
    kept: list[str] = []
    skipped: list[tuple[str, str]] = []

    def work(name: str) -> np.ndarray | str:
        path = base / name
        if not is_image_name(path):
            return f"not an image file type ({path.suffix or 'no extension'})"
        return _try_decode(path, image_size, resize)

    if progress:
        progress(0, total, message)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cnnlab-decode")
    try:
        with strict_truncation():
            results = pool.map(work, names)
            for done, (name, result) in enumerate(zip(names, results, strict=True), start=1):
                if isinstance(result, str):
                    skipped.append((name, result))
                    log.debug("skipped %s: %s", base / name, result)
                else:
                    arrays.append(result)
                    kept.append(name)
                if progress and (done % step == 0 or done == total):
                    progress(done, total, message)
    finally:
        # On an abort (progress raised, Ctrl-C) drop the queued files instead of decoding them.
        pool.shutdown(wait=True, cancel_futures=True)
    if skipped:
        log.warning("skipped %d of %d file(s) under %s", len(skipped), total, base)
    if arrays:
        images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    else:
        images = torch.empty((0, 3, image_size, image_size), dtype=torch.uint8)
    return DecodedImages(kept, images, skipped)
