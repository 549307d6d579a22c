"""The data sets cnnlab knows and what is on disk for each, without decoding or torch.

`DATASETS` names every set (the config's choices, the form's list); `probe_dataset` /
`list_datasets` only list folders, so `cnnlab datasets` and the dashboard show what is
available in milliseconds. Loading (decoding through the cache) is `registry.load_dataset`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from engine.datasets.listing import (
    CLASS_TEST_FRACTION,
    PAIR_TEST_FRACTION,
    check_batches,
    has_class_layout,
    has_pair_layout,
    layout_of,
    list_classes,
    list_pairs,
    locate,
    locate_cifar10,
    shown_name,
)
from engine.datasets.listing import LAYOUT_TEXT as CIFAR10_LAYOUT
from engine.datasets.split import split_counts
from engine.errors import DatasetError

# The synthetic sets' fixed sizes and classes (what `synthetic` draws; a probe reports them).
SHAPE_CLASSES = ["circle", "square", "triangle"]
SHAPES_SIZES = (2400, 600)  # (train, test): generating is cheap, and data beats epochs
HAZE_SIZES = (200, 50)

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
        DatasetInfo("cifar10", "classify", "CIFAR-10, 10 classes of 32 px images", CIFAR10_LAYOUT),
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


def data_root(root: str | os.PathLike | None, info: DatasetInfo) -> Path:
    if root is not None:
        return Path(root).expanduser()
    if info.own_folder:
        raise DatasetError(
            f"the '{info.name}' data set needs a data root that is the data set folder "
            f"itself ({info.layout}): pass --data-root DIR"
        )
    return default_data_root()


def locate_dataset(info: DatasetInfo, root: Path) -> Path:
    """The data set folder for a file-backed set (DatasetError when not found)."""
    if info.name == "cifar10":
        return locate_cifar10(root)
    has_layout = has_pair_layout if info.task == "dehaze" else has_class_layout
    return locate(root, None if info.own_folder else info.name, has_layout, info.layout)


@dataclass
class DatasetStatus:
    """What a probe found for one data set, without decoding any image.

    `splits` maps class (or "pairs") → split → expected count; `skipped` lists files a probe
    can already tell are not images (by extension). `state` is "found", "missing" or "error".
    """

    name: str
    task: str
    found: bool
    count: int
    where: str
    message: str = ""
    state: str = ""
    description: str = ""
    splits: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.splits = {shown_name(name): counts for name, counts in self.splits.items()}
        self.skipped = [(shown_name(name), reason) for name, reason in self.skipped]
        if not self.state:
            self.state = "found" if self.found else "missing"


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
        if layout_of(folder) == "batches":
            check_batches(folder)
            return {"all classes": {"train": 50000, "val": 0, "test": 10000}}, []
        train, train_other = list_classes(folder / "train")
        test, test_other = list_classes(folder / "test")
        splits = {
            c: {"train": len(train.get(c, [])), "val": 0, "test": len(test.get(c, []))}
            for c in sorted(set(train) | set(test))
        }
        return splits, train_other + test_other
    if info.task == "dehaze":
        pairs, others = list_pairs(folder)
        return _expected_splits({"pairs": len(pairs)}, PAIR_TEST_FRACTION), others
    listing, others = list_classes(folder)
    counts = {c: len(names) for c, names in listing.items()}
    return _expected_splits(counts, CLASS_TEST_FRACTION), others


def _synthetic_splits(info: DatasetInfo) -> dict[str, dict[str, int]]:
    if info.name == "shapes":
        train, test = SHAPES_SIZES
        per = len(SHAPE_CLASSES)
        return {c: {"train": train // per, "val": 0, "test": test // per} for c in SHAPE_CLASSES}
    train, test = HAZE_SIZES
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
        folder = locate_dataset(info, data_root(root, info))
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
