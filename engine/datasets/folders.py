"""Data sets stored as folders: one folder per class, or matched hazy/clear pairs.

`vehicles` and `folder` use class folders (`<set>/<class>/<image>`); `dehaze` and `paired`
use `<set>/hazy/NAME` + `<set>/clear/NAME`. Files are ordered by natural sort (img2 before
img10) and split by position, as the lab asks ("the last 20–30 % of each class is the test
set"). Every problem a person can cause becomes a DatasetError naming the folder or files.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from PIL import Image

from engine.datasets.bundle import DatasetBundle
from engine.datasets.cache import decode_cached
from engine.datasets.decode import ProgressFn
from engine.datasets.listing import (
    CLASS_TEST_FRACTION,
    PAIR_TEST_FRACTION,
    list_classes,
    list_pairs,
    name_list,
)
from engine.datasets.split import split_by_group, split_positions
from engine.errors import DatasetError

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- class folders


def load_class_folders(
    folder: Path,
    *,
    name: str,
    image_size: int,
    test_fraction: float | None,
    val_fraction: float,
    progress: ProgressFn | None = None,
    resize: str = "stretch",
) -> DatasetBundle:
    """Decode a class-folder data set and split each class by position.

    `resize` ("stretch" | "letterbox") is how each image becomes S×S (`decode.py`).
    """
    test_fraction = CLASS_TEST_FRACTION if test_fraction is None else test_fraction
    listing, others = list_classes(folder)
    classes = list(listing)
    names = [n for class_name in classes for n in listing[class_name]]
    decoded = decode_cached(
        folder,
        names,
        image_size,
        kind="classes",
        progress=progress,
        label=f"{name} ({image_size} px{'' if resize == 'stretch' else ', ' + resize})",
        resize=resize,
    )
    index = {class_name: i for i, class_name in enumerate(classes)}
    labels = [index[n.split("/", 1)[0]] for n in decoded.names]
    present = set(labels)
    lost = [c for c in classes if index[c] not in present]
    if lost:
        raise DatasetError(
            f"class(es) {name_list(lost)} in {folder} have no decodable image "
            f"({len(decoded.skipped)} file(s) skipped)"
        )
    train, val, test = split_by_group(labels, test_fraction, val_fraction, names=classes)
    y = torch.tensor(labels, dtype=torch.int64)

    def take(rows: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        rows_t = torch.tensor(rows, dtype=torch.int64)
        return decoded.images[rows_t], y[rows_t]

    (train_x, train_y), (val_x, val_y), (test_x, test_y) = take(train), take(val), take(test)
    return DatasetBundle(
        name=name, task="classify", classes=classes,
        train_x=train_x, train_y=train_y, val_x=val_x, val_y=val_y,
        test_x=test_x, test_y=test_y,
        test_names=[decoded.names[i] for i in test],
        skipped=others + decoded.skipped, source=str(folder),
        train_names=[decoded.names[i] for i in train],
        val_names=[decoded.names[i] for i in val],
    )  # fmt: skip


# ---------------------------------------------------------------- hazy/clear pairs


def load_pairs(
    folder: Path,
    *,
    name: str,
    image_size: int,
    test_fraction: float | None,
    val_fraction: float,
    progress: ProgressFn | None = None,
) -> DatasetBundle:
    """Decode a hazy/clear data set; the last `test_fraction` of sorted pairs is the test set."""
    test_fraction = PAIR_TEST_FRACTION if test_fraction is None else test_fraction
    pairs, others = list_pairs(folder)
    names = [h for h, _ in pairs] + [c for _, c in pairs]
    decoded = decode_cached(
        folder, names, image_size, kind="pairs", progress=progress,
        label=f"{name} ({image_size} px)",
    )  # fmt: skip
    row = {n: i for i, n in enumerate(decoded.names)}
    bad = {n for n, _ in decoded.skipped}
    kept = [(h, c) for h, c in pairs if h in row and c in row]
    dropped = [
        (c if h in bad else h, "pair dropped: its partner could not be decoded")
        for h, c in pairs
        if (h in bad) != (c in bad)
    ]
    train, val, test = split_positions(
        len(kept), test_fraction, val_fraction, what=f"{folder} ({len(kept)} usable pairs)"
    )
    warnings = size_mismatch_warnings(folder, kept)

    def take(positions: range) -> tuple[torch.Tensor, torch.Tensor]:
        hazy_rows = torch.tensor([row[kept[i][0]] for i in positions], dtype=torch.int64)
        clear_rows = torch.tensor([row[kept[i][1]] for i in positions], dtype=torch.int64)
        return decoded.images[hazy_rows], decoded.images[clear_rows]

    (train_x, train_y), (val_x, val_y), (test_x, test_y) = take(train), take(val), take(test)
    return DatasetBundle(
        name=name, task="dehaze", classes=[],
        train_x=train_x, train_y=train_y, val_x=val_x, val_y=val_y,
        test_x=test_x, test_y=test_y,
        test_names=[kept[i][0] for i in test],
        skipped=others + decoded.skipped + dropped, source=str(folder),
        train_names=[kept[i][0] for i in train],
        val_names=[kept[i][0] for i in val], warnings=warnings,
    )  # fmt: skip


def _image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file's header (no decoding); None when unreadable."""
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, SyntaxError, ValueError, EOFError):
        return None


def size_mismatch_warnings(folder: Path, pairs: list[tuple[str, str]]) -> list[str]:
    """A warning naming the pairs whose hazy and clear images differ in size.

    Both are stretched to S×S, so such a pair still loads, but its pixels no longer line up
    and the model learns (and is scored on) a shifted target."""
    mismatched = []
    for hazy, clear in pairs:
        hazy_size, clear_size = _image_size(folder / hazy), _image_size(folder / clear)
        if hazy_size and clear_size and hazy_size != clear_size:
            size_text = f"{hazy_size[0]}×{hazy_size[1]} vs {clear_size[0]}×{clear_size[1]}"
            mismatched.append(f"{hazy.split('/', 1)[1]} ({size_text})")
    if not mismatched:
        return []
    return [
        f"{len(mismatched)} pair(s) in {folder} have hazy and clear images of different "
        f"sizes, stretched to the same size so their pixels no longer line up: "
        f"{name_list(mismatched)}"
    ]
