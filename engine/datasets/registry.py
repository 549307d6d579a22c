"""Data set names → loaders and probes, and where data lives by default.

`load_dataset` decodes (through the cache); `probe_dataset` only lists folders, so the
CLI and the dashboard can show what is available in milliseconds.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from engine.datasets import cifar10, folders, synthetic
from engine.datasets.bundle import DatasetBundle, DatasetStatus
from engine.datasets.decode import ProgressFn, check_resize
from engine.datasets.split import check_fraction, split_counts
from engine.errors import DatasetError
from engine.trainer.config import MAX_IMAGE_SIZE, MIN_IMAGE_SIZE

log = logging.getLogger(__name__)

CLASS_LAYOUT = "class folders (<class>/<image>)"
PAIR_LAYOUT = "'hazy' and 'clear' folders"


@dataclass(frozen=True)
class DatasetInfo:
    """What a data set is; `layout` says what it needs on disk ("" for synthetic sets)."""

    name: str
    task: str
    description: str
    layout: str
    own_folder: bool = False  # True: the data root must be the data set folder itself


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("vehicles", "classify", "the lab's bus / car / truck photos", CLASS_LAYOUT),
        DatasetInfo("dehaze", "dehaze", "the lab's hazy / clear photo pairs", PAIR_LAYOUT),
        DatasetInfo(
            "cifar10", "classify", "CIFAR-10, 10 classes of 32 px images", cifar10.LAYOUT_TEXT
        ),
        DatasetInfo("folder", "classify", "any class-folder data set", CLASS_LAYOUT, True),
        DatasetInfo("paired", "dehaze", "any hazy / clear pair data set", PAIR_LAYOUT, True),
        DatasetInfo("shapes", "classify", "synthetic circles / squares / triangles", ""),
        DatasetInfo("haze_synth", "dehaze", "synthetic scenes hazed by I = J·t + A(1−t)", ""),
    )
}


def default_data_root() -> Path:
    """`$CNNLAB_DATA` when set, else `./data`."""
    return Path(os.environ.get("CNNLAB_DATA") or "data").expanduser()


def get_info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise DatasetError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name]


def _root(root: str | os.PathLike | None, info: DatasetInfo) -> Path:
    if root is not None:
        return Path(root).expanduser()
    if info.own_folder:
        raise DatasetError(
            f"the '{info.name}' data set needs a data root that is the data set folder "
            f"itself ({info.layout}): pass --data-root DIR"
        )
    return default_data_root()


def _locate(info: DatasetInfo, root: Path) -> Path:
    """The data set folder for a file-backed set (DatasetError when not found)."""
    if info.name == "cifar10":
        return cifar10.locate_cifar10(root)
    has_layout = folders.has_pair_layout if info.task == "dehaze" else folders.has_class_layout
    return folders.locate(root, None if info.own_folder else info.name, has_layout, info.layout)


def load_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    image_size: int = 32,
    test_fraction: float | None = None,
    val_fraction: float = 0.0,
    seed: int = 0,
    progress: ProgressFn | None = None,
    resize: str = "stretch",
) -> DatasetBundle:
    """Load a data set as uint8 tensors, split into train / val / test.

    `root` is the data root (the set is `root/<name>`) or the set's own folder; `None`
    means `default_data_root()`. `test_fraction=None` uses the set's default (0.25 for
    class folders, 0.2 for pairs; CIFAR-10 and its own test set ignore it). `seed` only
    matters for the synthetic sets, whose pixels it fixes. `resize` ("stretch" |
    "letterbox", `decode.RESIZE_MODES`) is how classification images become S×S; the
    synthetic sets are drawn square, so both modes give the same pixels there. Dehazing
    pairs only stretch: letterbox padding would be scored as perfectly restored pixels.
    """
    info = get_info(name)
    if not isinstance(image_size, int) or not MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE:
        raise DatasetError(
            f"image_size must be a whole number of pixels from {MIN_IMAGE_SIZE} to "
            f"{MAX_IMAGE_SIZE}, not {image_size!r}"
        )
    check_fraction("test_fraction", test_fraction, allow_zero=False)
    check_fraction("val_fraction", val_fraction, allow_zero=True)
    check_resize(resize)
    if info.task == "dehaze" and resize != "stretch":
        raise DatasetError(
            f"resize={resize!r} applies to classification only; {name} "
            "pairs are stretched (padding would be scored as restored pixels)"
        )
    options = {
        "image_size": image_size,
        "test_fraction": test_fraction,
        "val_fraction": val_fraction,
    }
    if name == "shapes":
        bundle = synthetic.load_shapes(seed=seed, **options)
    elif name == "haze_synth":
        bundle = synthetic.load_haze_synth(seed=seed, **options)
    elif name == "cifar10":
        bundle = cifar10.load_cifar10(
            _root(root, info), progress=progress, resize=resize, **options
        )
    elif info.task == "dehaze":
        folder = _locate(info, _root(root, info))
        bundle = folders.load_pairs(folder, name=name, progress=progress, **options)
    else:
        folder = _locate(info, _root(root, info))
        bundle = folders.load_class_folders(
            folder, name=name, progress=progress, resize=resize, **options
        )
    sizes = bundle.split_sizes()
    log.info(
        "loaded %s from %s: %d train / %d val / %d test, %d skipped",
        name, bundle.source, sizes["train"], sizes["val"], sizes["test"], len(bundle.skipped),
    )  # fmt: skip
    return bundle


# -------------------------------------------------------------------- probes


def _expected_splits(counts: dict[str, int], test_fraction: float) -> dict[str, dict[str, int]]:
    splits = {}
    for group, n in counts.items():
        train, val, test = split_counts(n, test_fraction, what=f"'{group}'")
        splits[group] = {"train": train, "val": val, "test": test}
    return splits


def _probe_files(info: DatasetInfo, folder: Path) -> tuple[dict, list[tuple[str, str]]]:
    """(class → split → count, non-image files) for a located file-backed set."""
    if info.name == "cifar10":
        if cifar10.layout_of(folder) == "batches":
            cifar10.check_batches(folder)
            return {"all classes": {"train": 50000, "val": 0, "test": 10000}}, []
        train, train_other = folders.list_classes(folder / "train")
        test, test_other = folders.list_classes(folder / "test")
        splits = {
            c: {"train": len(train.get(c, [])), "val": 0, "test": len(test.get(c, []))}
            for c in sorted(set(train) | set(test))
        }
        return splits, train_other + test_other
    if info.task == "dehaze":
        pairs, others = folders.list_pairs(folder)
        return _expected_splits({"pairs": len(pairs)}, folders.PAIR_TEST_FRACTION), others
    listing, others = folders.list_classes(folder)
    counts = {c: len(names) for c, names in listing.items()}
    return _expected_splits(counts, folders.CLASS_TEST_FRACTION), others


def _synthetic_splits(info: DatasetInfo) -> dict[str, dict[str, int]]:
    if info.name == "shapes":
        train, test = synthetic.SHAPES_SIZES
        per = len(synthetic.SHAPE_CLASSES)
        return {
            c: {"train": train // per, "val": 0, "test": test // per}
            for c in synthetic.SHAPE_CLASSES
        }
    train, test = synthetic.HAZE_SIZES
    return {"pairs": {"train": train, "val": 0, "test": test}}


def probe_dataset(name: str, root: str | os.PathLike | None = None) -> DatasetStatus:
    """What is on disk for one data set, without decoding: never raises for missing data."""
    info = get_info(name)
    base = {"name": name, "task": info.task, "description": info.description}
    if not info.layout:
        splits = _synthetic_splits(info)
        count = sum(sum(s.values()) for s in splits.values())
        return DatasetStatus(found=True, count=count, where="built in (generated from a seed)",
                             splits=splits, **base)  # fmt: skip
    try:
        folder = _locate(info, _root(root, info))
    except DatasetError as error:
        where = str(root) if root is not None else str(default_data_root())
        return DatasetStatus(found=False, count=0, where=where, message=str(error), **base)
    try:
        splits, others = _probe_files(info, folder)
    except DatasetError as error:
        return DatasetStatus(found=False, count=0, where=str(folder), message=str(error),
                             state="error", **base)  # fmt: skip
    count = sum(sum(s.values()) for s in splits.values())
    return DatasetStatus(found=True, count=count, where=str(folder), splits=splits,
                         skipped=others, **base)  # fmt: skip


def list_datasets(root: str | os.PathLike | None = None) -> list[DatasetStatus]:
    """A probe of every known data set under `root` (default: `default_data_root()`)."""
    return [probe_dataset(name, root) for name in DATASETS]
