"""Data sets stored as folders: one folder per class, or matched hazy/clear pairs.

`vehicles` and `folder` use class folders (`<set>/<class>/<image>`); `dehaze` and `paired`
use `<set>/hazy/NAME` + `<set>/clear/NAME`. Files are ordered by natural sort (img2 before
img10) and split by position, as the lab asks ("the last 20–30 % of each class is the test
set"). Every problem a person can cause becomes a DatasetError naming the folder or files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image

from engine.datasets.bundle import DatasetBundle
from engine.datasets.cache import decode_cached
from engine.datasets.decode import ProgressFn, is_image_name, shown_name
from engine.datasets.split import natural_key, split_by_group, split_positions
from engine.errors import DatasetError

log = logging.getLogger(__name__)

CLASS_TEST_FRACTION = 0.25  # the lab: "后20-30%" of each class
PAIR_TEST_FRACTION = 0.2  # the lab: "后20%" of the pairs
HAZY_FOLDERS = ("hazy", "haze", "有雾图片")
CLEAR_FOLDERS = ("clear", "gt", "clean", "去雾图片")
_MAX_LISTED = 10


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _sorted_files(folder: Path) -> list[Path]:
    files = [p for p in folder.iterdir() if _visible(p) and p.is_file()]
    return sorted(files, key=lambda p: natural_key(p.name))


def _name_list(names: list[str]) -> str:
    shown = ", ".join(shown_name(n) for n in names[:_MAX_LISTED])
    more = len(names) - _MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def locate(root: Path, name: str | None, has_layout: Callable[[Path], bool], layout: str) -> Path:
    """The folder holding the data set: `root/<name>` or `root` itself, whichever fits.

    `name=None` means `root` must be the data set folder (the `folder`/`paired` sets).
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise DatasetError(f"data root {root} does not exist")
    if not root.is_dir():
        raise DatasetError(f"data root {root} is not a folder")
    candidates = [root / name, root] if name else [root]
    for candidate in candidates:
        if has_layout(candidate):
            return candidate
    looked = " or ".join(str(c) for c in candidates)
    label = f"'{name}' data set" if name else "data set"
    raise DatasetError(f"no {label} found: looked for {layout} in {looked}")


# ---------------------------------------------------------------- class folders


def has_class_layout(folder: Path) -> bool:
    """True when some visible sub-folder of `folder` directly holds an image file."""
    if not folder.is_dir():
        return False
    for sub in folder.iterdir():
        if _visible(sub) and sub.is_dir() and any(is_image_name(p) for p in sub.iterdir()):
            return True
    return False


def list_classes(folder: Path) -> tuple[dict[str, list[str]], list[tuple[str, str]]]:
    """Class → sorted relative image names, plus (name, reason) for non-image files.

    Raises DatasetError for no class folders or a class folder without images.
    """
    # Plain name order, as torchvision's ImageFolder, so label indices match it.
    classes = sorted(p for p in folder.iterdir() if _visible(p) and p.is_dir())
    if not classes:
        raise DatasetError(f"{folder} has no class folders (expected {folder}/<class>/<image>)")
    listing: dict[str, list[str]] = {}
    others: list[tuple[str, str]] = []
    empty: list[str] = []
    for class_dir in classes:
        files = _sorted_files(class_dir)
        images = [f"{class_dir.name}/{p.name}" for p in files if is_image_name(p)]
        others += [
            (f"{class_dir.name}/{p.name}", f"not an image file type ({p.suffix or 'no extension'})")
            for p in files
            if not is_image_name(p)
        ]
        if not images:
            empty.append(class_dir.name)
        listing[class_dir.name] = images
    if empty:
        raise DatasetError(
            f"class folder(s) without images in {folder}: {_name_list(empty)} "
            "(remove the folder or add images)"
        )
    if len(listing) < 2:
        raise DatasetError(
            f"{folder} has one class folder ({_name_list(list(listing))}): classification "
            "needs at least 2 classes (one folder per class, <class>/<image>)"
        )
    return listing, others


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
            f"class(es) {_name_list(lost)} in {folder} have no decodable image "
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


def _find_sub(folder: Path, names: tuple[str, ...]) -> Path | None:
    wanted = {n.lower() for n in names}
    for sub in sorted(folder.iterdir()):
        if sub.is_dir() and sub.name.lower() in wanted:
            return sub
    return None


def pair_folders(folder: Path) -> tuple[Path, Path] | None:
    """(hazy, clear) sub-folders of `folder`, or None when it is not a paired data set."""
    if not folder.is_dir():
        return None
    hazy, clear = _find_sub(folder, HAZY_FOLDERS), _find_sub(folder, CLEAR_FOLDERS)
    return (hazy, clear) if hazy and clear else None


def has_pair_layout(folder: Path) -> bool:
    return pair_folders(folder) is not None


def _images_by_stem(sub: Path) -> tuple[dict[str, str], list[tuple[str, str]]]:
    by_stem: dict[str, str] = {}
    others: list[tuple[str, str]] = []
    for path in _sorted_files(sub):
        rel = f"{sub.name}/{path.name}"
        if not is_image_name(path):
            others.append((rel, f"not an image file type ({path.suffix or 'no extension'})"))
        elif path.stem in by_stem:
            raise DatasetError(
                f"two images named {shown_name(path.stem)!r} in {sub}: cannot pair them"
            )
        else:
            by_stem[path.stem] = rel
    return by_stem, others


def list_pairs(folder: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Sorted (hazy, clear) relative names matched by file name, plus non-image files.

    Raises DatasetError when hazy images lack their clear pair (naming them) or no pair exists.
    """
    found = pair_folders(folder)
    if found is None:
        raise DatasetError(f"{folder} needs 'hazy' and 'clear' sub-folders")
    hazy_dir, clear_dir = found
    hazy, hazy_other = _images_by_stem(hazy_dir)
    clear, clear_other = _images_by_stem(clear_dir)
    unpaired = [hazy[stem].split("/", 1)[1] for stem in hazy if stem not in clear]
    if unpaired:
        raise DatasetError(
            f"{len(unpaired)} hazy image(s) in {hazy_dir} have no clear image of the same "
            f"name in {clear_dir}: {_name_list(unpaired)}"
        )
    lonely = [rel for stem, rel in clear.items() if stem not in hazy]
    extra = [(rel, "clear image without a hazy pair") for rel in lonely]
    if not hazy:
        raise DatasetError(f"no hazy images in {hazy_dir}")
    stems = sorted(hazy, key=natural_key)
    return [(hazy[s], clear[s]) for s in stems], hazy_other + clear_other + extra


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
        f"{_name_list(mismatched)}"
    ]
