"""The images `cnnlab evaluate` scores a run on: its own data set, or another folder of the
same task, read by the run's own loaders and matched to the run's classes by name.

A class folder the run does not know is refused (naming it): its images have no right
answer among the run's outputs. Classes the folder lacks are allowed and reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from engine.datasets import DATASETS
from engine.datasets import listing as folder_sets
from engine.datasets.bundle import DatasetBundle
from engine.datasets.cache import decode_cached
from engine.datasets.catalog import CLASS_LAYOUT, PAIR_LAYOUT
from engine.datasets.listing import layout_of, locate_cifar10
from engine.datasets.registry import load_dataset
from engine.errors import DatasetError
from engine.use.loading import LoadedRun

SPLITS = ("test", "all")


@dataclass
class EvaluationData:
    """uint8 inputs and targets in the run's terms (labels index the run's classes)."""

    x: torch.Tensor
    y: torch.Tensor
    names: list[str]
    source: str
    classes_present: list[str] = field(default_factory=list)
    classes_missing: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def evaluation_data(
    loaded: LoadedRun, data_root: Path | str | None, split: str, progress=None
) -> EvaluationData:
    """`split` ("test" or "all") of the run's own data (`data_root` None) or of `data_root`."""
    if split not in SPLITS:
        raise DatasetError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    if data_root is None:
        return _from_bundle(loaded, loaded.run_data(progress), split, loaded.classes)
    root = Path(data_root).expanduser()
    if loaded.task == "dehaze":
        return _pairs(loaded, root, split, progress)
    if loaded.config.dataset == "cifar10" and _is_cifar10(root):
        bundle = load_dataset(
            "cifar10",
            root,
            image_size=loaded.config.image_size,
            resize=loaded.config.resize,
            progress=progress,
        )
        return _matched(loaded, bundle, split)
    return _class_folders(loaded, root, split, progress)


def _is_cifar10(root: Path) -> bool:
    try:
        return layout_of(locate_cifar10(root)) is not None
    except DatasetError:
        return False


def _set_name(loaded: LoadedRun) -> str | None:
    """The run's data set name when a data root may hold it as `<root>/<name>`."""
    info = DATASETS[loaded.config.dataset]
    return None if info.own_folder or not info.layout else info.name


def _class_folders(loaded: LoadedRun, root: Path, split: str, progress) -> EvaluationData:
    folder = folder_sets.locate(root, _set_name(loaded), folder_sets.has_class_layout, CLASS_LAYOUT)
    listing, others = folder_sets.list_classes(folder)
    _refuse_unknown(list(listing), loaded.classes, folder)
    config = loaded.config
    if split == "test":
        bundle = load_dataset(
            "folder",
            folder,
            image_size=config.image_size,
            test_fraction=config.test_fraction,
            resize=config.resize,
            progress=progress,
        )
        return _matched(loaded, bundle, split)
    names = [name for class_name in listing for name in listing[class_name]]
    decoded = decode_cached(
        folder,
        names,
        config.image_size,
        kind="classes",
        progress=progress,
        label=f"{folder.name} ({config.image_size} px)",
        resize=config.resize,
    )
    index = {name: i for i, name in enumerate(loaded.classes)}
    labels = torch.tensor([index[n.split("/", 1)[0]] for n in decoded.names], dtype=torch.int64)
    return _with_classes(
        EvaluationData(
            decoded.images,
            labels,
            list(decoded.names),
            str(folder),
            skipped=others + decoded.skipped,
        ),
        loaded.classes,
    )


def _refuse_unknown(found: list[str], known: list[str], folder: Path) -> None:
    unknown = [name for name in found if name not in known]
    if unknown:
        raise DatasetError(
            f"{folder} has class folder(s) the run does not know: {', '.join(unknown)} "
            f"(the run's classes: {', '.join(known)}); remove or rename them"
        )


def _matched(loaded: LoadedRun, bundle: DatasetBundle, split: str) -> EvaluationData:
    """A bundle loaded with its own class list, relabelled into the run's classes."""
    _refuse_unknown(bundle.classes, loaded.classes, Path(bundle.source))
    return _from_bundle(loaded, bundle, split, bundle.classes)


def _from_bundle(
    loaded: LoadedRun, bundle: DatasetBundle, split: str, classes: list[str]
) -> EvaluationData:
    if split == "test":
        x, y, names = bundle.test_x, bundle.test_y, list(bundle.test_names)
    else:
        x = torch.cat([bundle.train_x, bundle.val_x, bundle.test_x])
        y = torch.cat([bundle.train_y, bundle.val_y, bundle.test_y])
        names = list(bundle.train_names) + list(bundle.val_names) + list(bundle.test_names)
    if loaded.task == "classify":
        mapping = torch.tensor([loaded.classes.index(c) for c in classes], dtype=torch.int64)
        y = mapping[y] if len(y) else y
    data = EvaluationData(x, y, names, bundle.source or "built-in", skipped=list(bundle.skipped))
    return _with_classes(data, loaded.classes) if loaded.task == "classify" else data


def _with_classes(data: EvaluationData, classes: list[str]) -> EvaluationData:
    present = set(data.y.tolist())
    data.classes_present = [c for i, c in enumerate(classes) if i in present]
    data.classes_missing = [c for i, c in enumerate(classes) if i not in present]
    return data


def _pairs(loaded: LoadedRun, root: Path, split: str, progress) -> EvaluationData:
    folder = folder_sets.locate(root, _set_name(loaded), folder_sets.has_pair_layout, PAIR_LAYOUT)
    config = loaded.config
    if split == "test":
        bundle = load_dataset(
            "paired",
            folder,
            image_size=config.image_size,
            test_fraction=config.test_fraction,
            progress=progress,
        )
        return _from_bundle(loaded, bundle, split, [])
    pairs, others = folder_sets.list_pairs(folder)
    names = [h for h, _ in pairs] + [c for _, c in pairs]
    decoded = decode_cached(
        folder,
        names,
        config.image_size,
        kind="pairs",
        progress=progress,
        label=f"{folder.name} ({config.image_size} px)",
    )
    row = {name: i for i, name in enumerate(decoded.names)}
    kept = [(h, c) for h, c in pairs if h in row and c in row]
    lost = [
        (h, "pair dropped: it or its partner could not be decoded")
        for h, c in pairs
        if (h, c) not in kept
    ]
    hazy = torch.tensor([row[h] for h, _ in kept], dtype=torch.int64)
    clear = torch.tensor([row[c] for _, c in kept], dtype=torch.int64)
    return EvaluationData(
        decoded.images[hazy],
        decoded.images[clear],
        [h for h, _ in kept],
        str(folder),
        skipped=others + decoded.skipped + lost,
    )
