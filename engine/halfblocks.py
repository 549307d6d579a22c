"""Images drawn in any terminal with half blocks (for the CLI and the dashboard alike).

Each character cell shows two pixels stacked: the upper one as the foreground colour of
`▀`, the lower one as the background. Terminal cells are about twice as tall as wide, so
such a "pixel" is roughly square and the image keeps its proportions. This works over plain
SSH in 80×24 without any graphics protocol, which is where cnnlab's users are.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Union

from rich.style import Style
from rich.text import Text

if TYPE_CHECKING:  # numpy and PIL load where an image is drawn: the dashboard starts faster
    import numpy as np
    from PIL import Image

UPPER_HALF = "▀"

ImageSource = Union[Path, str, "Image.Image", "np.ndarray"]


def load_rgb(source: ImageSource) -> Image.Image:
    """An RGB PIL image from a path, a PIL image or an (H, W[, 3]) array (uint8 or [0, 1])."""
    import numpy as np
    from PIL import Image

    if isinstance(source, Image.Image):
        return source.convert("RGB")
    if isinstance(source, np.ndarray):
        array = source
        if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3):
            array = np.transpose(array, (1, 2, 0))  # CHW → HWC
        if array.dtype != np.uint8:
            array = (np.clip(array.astype(np.float64), 0.0, 1.0) * 255).round().astype(np.uint8)
        if array.ndim == 3 and array.shape[-1] == 1:
            array = array[..., 0]
        return Image.fromarray(array).convert("RGB")
    with Image.open(Path(source)) as image:
        return image.convert("RGB")


def fit_size(image_size: tuple[int, int], cells: tuple[int, int]) -> tuple[int, int]:
    """Pixel size (w, h) that fits `cells` (columns, rows) keeping aspect; h is even."""
    width, height = image_size
    columns, rows = cells
    if width <= 0 or height <= 0 or columns <= 0 or rows <= 0:
        return (0, 0)
    scale = min(columns / width, (rows * 2) / height)
    fit_w = max(1, min(columns, round(width * scale)))
    fit_h = max(2, min(rows * 2, round(height * scale)))
    return fit_w, fit_h + (fit_h % 2)


def half_block_text(image: Image.Image, columns: int, rows: int) -> Text:
    """`image` scaled to fit `columns`×`rows` cells, as rich Text of coloured `▀`."""
    import numpy as np
    from PIL import Image

    fit_w, fit_h = fit_size(image.size, (columns, rows))
    text = Text(no_wrap=True, overflow="crop")
    if fit_w == 0:
        return text
    pixels = np.asarray(image.resize((fit_w, fit_h), Image.Resampling.BOX))
    styles: dict[tuple[int, ...], Style] = {}  # small images repeat colours; reuse styles
    for row in range(0, fit_h, 2):
        if row:
            text.append("\n")
        upper, lower = pixels[row], pixels[min(row + 1, fit_h - 1)]
        for up, low in zip(upper, lower, strict=True):
            key = (*up, *low)
            style = styles.get(key)
            if style is None:
                style = Style(
                    color=f"rgb({up[0]},{up[1]},{up[2]})",
                    bgcolor=f"rgb({low[0]},{low[1]},{low[2]})",
                )
                styles[key] = style
            text.append(UPPER_HALF, style)
    return text
