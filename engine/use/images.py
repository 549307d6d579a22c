"""Finding the images a person named (files or folders) and decoding them in chunks as a
run's loaders do: unreadable files are skipped with the loaders' reasons, never fatal.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from engine.datasets.decode import decode_files
from engine.datasets.listing import is_image_name
from engine.datasets.split import natural_key
from engine.errors import DatasetError

# Files decoded per chunk: bounds memory for thousands of inputs and paces the progress bar.
CHUNK = 256


@dataclass
class FoundImages:
    """Image files in the order given (folders in natural order), plus what was skipped."""

    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def find_images(inputs: Sequence[str | Path]) -> FoundImages:
    """Every image under `inputs` (files, or folders searched recursively; hidden names
    skipped). A missing path or a non-image file inside a folder is skipped with a reason;
    `DatasetError` when nothing at all was named."""
    if not inputs:
        raise DatasetError("name at least one image file or folder")
    found = FoundImages()
    seen: set[Path] = set()
    for raw in inputs:
        path = Path(raw).expanduser()
        if path.is_dir():
            candidates = _folder_files(path)
            for file in candidates:
                if not is_image_name(file):
                    found.skipped.append((str(file), _not_image(file)))
                elif file.resolve() not in seen:
                    seen.add(file.resolve())
                    found.files.append(file)
        elif path.is_file():
            if path.resolve() not in seen:
                seen.add(path.resolve())
                found.files.append(path)
        else:
            found.skipped.append((str(path), "no such file or folder"))
    return found


def _folder_files(folder: Path) -> list[Path]:
    files = [
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    return sorted(files, key=lambda p: natural_key(str(p.relative_to(folder))))


def _not_image(path: Path) -> str:
    return f"not an image file type ({path.suffix or 'no extension'})"


@dataclass
class DecodedChunk:
    """One chunk of decoded inputs: `images[i]` came from `files[i]`."""

    files: list[Path]
    images: torch.Tensor  # uint8 (N, 3, S, S)
    skipped: list[tuple[str, str]]


def decode_chunks(
    files: Sequence[Path], image_size: int, resize: str, chunk: int = CHUNK
) -> Iterator[DecodedChunk]:
    """`files` decoded exactly as the run's loader decodes (`decode_files`: EXIF orientation,
    JPEG draft, the resize mode), `chunk` files at a time."""
    for start in range(0, len(files), chunk):
        part = [str(p) for p in files[start : start + chunk]]
        # Absolute and relative names both join onto "." unchanged.
        decoded = decode_files(Path("."), part, image_size, resize=resize)
        yield DecodedChunk([Path(n) for n in decoded.names], decoded.images, decoded.skipped)
