"""What is on disk, without decoding an image or importing torch: finding a data set's
folder, listing class folders and hazy/clear pairs, and recognising a CIFAR-10 folder.

`cnnlab datasets` and the dashboard's data-set checks probe through this module alone
(`engine.datasets.catalog`), so they answer in milliseconds; the loaders (`folders`,
`cifar10`) list files through it too, so a probe and a load always agree on what is there.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from engine.datasets.split import natural_key
from engine.errors import DatasetError

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
)
CLASS_TEST_FRACTION = 0.25  # the lab: "后20-30%" of each class
PAIR_TEST_FRACTION = 0.2  # the lab: "后20%" of the pairs
HAZY_FOLDERS = ("hazy", "haze", "有雾图片")
CLEAR_FOLDERS = ("clear", "gt", "clean", "去雾图片")
_MAX_LISTED = 10


def shown_name(name: str) -> str:
    """A file name as a person can read it: bytes that are not UTF-8 (which Python keeps as
    lone surrogates) appear escaped, `caf\\xe9.png`, so they can be printed and saved."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _sorted_files(folder: Path) -> list[Path]:
    files = [p for p in folder.iterdir() if _visible(p) and p.is_file()]
    return sorted(files, key=lambda p: natural_key(p.name))


def name_list(names: list[str]) -> str:
    """The first few names, readable, and how many more: for error messages."""
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
            f"class folder(s) without images in {folder}: {name_list(empty)} "
            "(remove the folder or add images)"
        )
    if len(listing) < 2:
        raise DatasetError(
            f"{folder} has one class folder ({name_list(list(listing))}): classification "
            "needs at least 2 classes (one folder per class, <class>/<image>)"
        )
    return listing, others


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
            f"name in {clear_dir}: {name_list(unpaired)}"
        )
    lonely = [rel for stem, rel in clear.items() if stem not in hazy]
    extra = [(rel, "clear image without a hazy pair") for rel in lonely]
    if not hazy:
        raise DatasetError(f"no hazy images in {hazy_dir}")
    stems = sorted(hazy, key=natural_key)
    return [(hazy[s], clear[s]) for s in stems], hazy_other + clear_other + extra


# ---------------------------------------------------------------- CIFAR-10

NAME = "cifar10"
BATCHES_DIR = "cifar-10-batches-py"
LAYOUT_TEXT = f"{BATCHES_DIR}/ or train/<class>/ + test/<class>/"
BATCH_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")


def layout_of(folder: Path) -> str | None:
    """ "batches", "folders" or None for a folder that is not a CIFAR-10 data set."""
    if (folder / BATCHES_DIR).is_dir():
        return "batches"
    if has_class_layout(folder / "train") and has_class_layout(folder / "test"):
        return "folders"
    return None


def locate_cifar10(root: Path) -> Path:
    """The CIFAR-10 folder: `root/cifar10`, `root`, or the parent of a batches folder."""
    root = Path(root).expanduser()
    if root.name == BATCHES_DIR and root.is_dir():
        return root.parent
    return locate(root, NAME, lambda p: layout_of(p) is not None, LAYOUT_TEXT)


def check_batches(folder: Path) -> None:
    """Raise DatasetError naming the files missing from `folder/cifar-10-batches-py`."""
    missing = [name for name in BATCH_FILES if not (folder / BATCHES_DIR / name).is_file()]
    if missing:
        raise DatasetError(
            f"{folder / BATCHES_DIR} is incomplete: {', '.join(missing)} missing; delete it "
            "and run `cnnlab datasets --download`"
        )
