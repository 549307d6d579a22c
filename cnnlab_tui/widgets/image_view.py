"""Images drawn in any terminal with half blocks: the drawing itself lives in
`engine.halfblocks` (the CLI draws the same way); this is the widget that fits it to its size.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget

from engine.halfblocks import UPPER_HALF, ImageSource, fit_size, half_block_text, load_rgb

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["UPPER_HALF", "ImageSource", "ImageView", "fit_size", "half_block_text", "load_rgb"]

log = logging.getLogger(__name__)


class ImageView(Widget):
    """Shows one image fitted to the widget; a missing or unreadable file shows why instead."""

    DEFAULT_CSS = """
    ImageView {
        width: 1fr;
        height: 1fr;
        min-height: 3;
    }
    """

    def __init__(
        self,
        source: ImageSource | None = None,
        *,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's own parameter name
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._image: Image.Image | None = None
        self._problem: str | None = None
        self._cache: tuple[tuple[int, int], Text] | None = None
        if source is not None:
            self.set_image(source)

    @property
    def image(self) -> Image.Image | None:
        """The loaded image (None when nothing is shown or it could not be read)."""
        return self._image

    @property
    def problem(self) -> str | None:
        """Why no image is shown (missing file, unreadable data), or None."""
        return self._problem

    def set_image(self, source: ImageSource | None) -> None:
        """Show `source`; a bad path never raises — the widget says what went wrong."""
        self._cache = None
        self._image, self._problem = None, None
        if source is None:
            self._problem = "no image"
        else:
            try:
                self._image = load_rgb(source)
            except (OSError, ValueError, TypeError) as exc:
                log.debug("cannot show image %r: %s", source, exc)
                label = Path(source).name if isinstance(source, (str, Path)) else "image"
                self._problem = f"cannot read {label}: {exc.__class__.__name__}"
        self.refresh()

    def render(self) -> RenderResult:
        if self._image is None:
            return Text(self._problem or "no image", style="italic")
        size = (self.content_size.width, self.content_size.height)
        if self._cache is None or self._cache[0] != size:
            self._cache = (size, half_block_text(self._image, *size))
        return self._cache[1]
