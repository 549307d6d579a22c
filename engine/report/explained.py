"""The pictures `cnnlab explain` left in a run folder, composed for the lab report."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from PIL import Image

from engine.use.pictures import caption, grid, upscale
from engine.use.records import read_explanation

MAX_ERRORS = 8  # gallery pictures in the report (the run folder keeps all of them)


def _open(path) -> Image.Image | None:
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except OSError:
        return None


def _label(entry: dict[str, Any]) -> str:
    if "true" in entry:
        return f"{entry['true']} -> {entry['predicted']} ({100 * entry['confidence']:.0f}%)"
    return f"PSNR {entry['psnr']:.1f} dB"


def explanation_pictures(record: Any) -> Iterator[tuple[str, Image.Image, str, dict]]:
    """(file stem, picture, caption key, caption values) for each figure; nothing when the
    run was never explained or its pictures are gone."""
    index = read_explanation(record.path)
    if index is None:
        return
    tiles = []
    for entry in index["images"][:MAX_ERRORS]:
        picture = _open(record.path / entry["picture"])
        if picture is not None:
            tiles.append(caption(picture, _label(entry)))
    if tiles:
        size = (max(t.width for t in tiles), max(t.height for t in tiles))
        tiles = [t if t.size == size else _padded(t, size) for t in tiles]
        key = "fig_errors" if index.get("task") == "classify" else "fig_worst"
        yield "errors", grid(tiles, columns=2), key, {}
    filters = index.get("filters") and _open(record.path / index["filters"])
    if filters:
        yield "filters", upscale(filters, 240), "fig_filters", {}
    maps = index.get("feature_maps") or []
    if maps:
        picture = _open(record.path / maps[0]["picture"])
        if picture is not None:
            yield "features", upscale(picture, 240), "fig_features", {"block": maps[0]["block"]}


def _padded(tile: Image.Image, size: tuple[int, int]) -> Image.Image:
    canvas = Image.new("RGB", size, (24, 24, 24))
    canvas.paste(tile, (0, 0))
    return canvas
