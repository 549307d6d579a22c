"""CIFAR-10 from torchvision's pickled batches or from JPEG class folders.

Two layouts are accepted under the data set folder: `cifar-10-batches-py/` (what
`torchvision.datasets.CIFAR10` downloads) or `train/<class>/` + `test/<class>/` (as in
../shared/data/cifar10). CIFAR-10 brings its own test set, so `test_fraction` does not
apply; `val_fraction` takes the tail of each training class.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F

from engine.datasets.bundle import DatasetBundle
from engine.datasets.cache import decode_cached
from engine.datasets.decode import ProgressFn
from engine.datasets.listing import (
    BATCHES_DIR,
    NAME,
    check_batches,
    layout_of,
    list_classes,
    locate_cifar10,
)
from engine.datasets.split import carve_validation
from engine.errors import DatasetError

log = logging.getLogger(__name__)

NATIVE_SIZE = 32
DOWNLOAD_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


def resize_uint8(images: torch.Tensor, image_size: int, chunk: int = 2048) -> torch.Tensor:
    """Antialiased bilinear resize of (N, 3, H, W) uint8 images, in chunks to bound memory."""
    if images.shape[-1] == image_size and images.shape[-2] == image_size:
        return images
    out = []
    for start in range(0, images.shape[0], chunk):
        part = images[start : start + chunk].float()
        part = F.interpolate(
            part, size=(image_size, image_size), mode="bilinear", antialias=True,
            align_corners=False,
        )  # fmt: skip
        out.append(part.round_().clamp_(0, 255).to(torch.uint8))
    return torch.cat(out) if out else images.new_empty((0, 3, image_size, image_size))


def _bundle(
    folder: Path,
    classes: list[str],
    train: tuple[torch.Tensor, torch.Tensor, list[str]],
    test: tuple[torch.Tensor, torch.Tensor, list[str]],
    val_fraction: float,
    skipped: list[tuple[str, str]],
) -> DatasetBundle:
    x, y, names = train
    keep, val = carve_validation(y.tolist(), val_fraction, names=classes)
    keep_t, val_t = torch.tensor(keep, dtype=torch.int64), torch.tensor(val, dtype=torch.int64)
    return DatasetBundle(
        name=NAME, task="classify", classes=classes,
        train_x=x[keep_t], train_y=y[keep_t], val_x=x[val_t], val_y=y[val_t],
        test_x=test[0], test_y=test[1], test_names=test[2],
        skipped=skipped, source=str(folder),
        train_names=[names[i] for i in keep], val_names=[names[i] for i in val],
    )  # fmt: skip


def _load_batches(folder: Path, image_size: int, progress: ProgressFn | None, resize: str):
    """torchvision's pickled batches: 32×32 squares, so stretch and letterbox agree."""
    from torchvision.datasets import CIFAR10  # heavy import, only when needed

    check_batches(folder)
    splits = []
    for train in (True, False):
        if progress:
            progress(int(not train), 2, f"reading {folder / BATCHES_DIR}")
        try:
            data = CIFAR10(str(folder), train=train, download=False)
        except RuntimeError as error:
            raise DatasetError(
                f"{folder / BATCHES_DIR} is incomplete or damaged ({error}); delete it and "
                "run `cnnlab datasets --download`"
            ) from error
        x = resize_uint8(torch.from_numpy(data.data).permute(0, 3, 1, 2).contiguous(), image_size)
        y = torch.tensor(data.targets, dtype=torch.int64)
        split = "train" if train else "test"
        splits.append((x, y, [f"{split}/{i:05d}" for i in range(len(y))]))
    if progress:
        progress(2, 2, f"read {folder / BATCHES_DIR}")
    return list(data.classes), splits[0], splits[1], []


def _load_folders(folder: Path, image_size: int, progress: ProgressFn | None, resize: str):
    train_list, train_other = list_classes(folder / "train")
    test_list, test_other = list_classes(folder / "test")
    if list(train_list) != list(test_list):
        raise DatasetError(
            f"class folders differ between {folder / 'train'} ({', '.join(train_list)}) "
            f"and {folder / 'test'} ({', '.join(test_list)})"
        )
    classes = list(train_list)
    names = [f"train/{n}" for c in classes for n in train_list[c]]
    names += [f"test/{n}" for c in classes for n in test_list[c]]
    decoded = decode_cached(
        folder, names, image_size, kind="cifar10", progress=progress,
        label=f"{NAME} ({image_size} px)", resize=resize,
    )  # fmt: skip
    index = {c: i for i, c in enumerate(classes)}
    parts = {}
    for split in ("train", "test"):
        rows = [i for i, n in enumerate(decoded.names) if n.startswith(split + "/")]
        labels = [index[decoded.names[i].split("/")[1]] for i in rows]
        rows_t = torch.tensor(rows, dtype=torch.int64)
        parts[split] = (
            decoded.images[rows_t],
            torch.tensor(labels, dtype=torch.int64),
            [decoded.names[i] for i in rows],
        )
        present = set(labels)
        missing = [c for c in classes if index[c] not in present]
        if missing:
            raise DatasetError(f"{folder / split}: no decodable image in class(es) {missing}")
    skipped = [(f"train/{n}", r) for n, r in train_other]
    skipped += [(f"test/{n}", r) for n, r in test_other] + decoded.skipped
    return classes, parts["train"], parts["test"], skipped


def load_cifar10(
    root: Path,
    *,
    image_size: int,
    test_fraction: float | None,
    val_fraction: float,
    progress: ProgressFn | None = None,
    resize: str = "stretch",
) -> DatasetBundle:
    """Load CIFAR-10 from `root` (data root or the cifar10 folder) in either layout."""
    folder = locate_cifar10(root)
    if test_fraction is not None:
        log.info("cifar10 has its own test set; test_fraction %s is not used", test_fraction)
    loader = _load_batches if layout_of(folder) == "batches" else _load_folders
    classes, train, test, skipped = loader(folder, image_size, progress, resize)
    return _bundle(folder, classes, train, test, val_fraction, skipped)


def download_target(root: Path) -> Path:
    """Where `--download` puts CIFAR-10: the folder itself when it is named cifar10."""
    root = Path(root).expanduser()
    return root if root.name == NAME else root / NAME


def download_cifar10(root: Path) -> Path:
    """Fetch CIFAR-10 with torchvision into `download_target(root)`; returns that folder.

    A network failure becomes a DatasetError that says where to put the files by hand.
    """
    from torchvision.datasets import CIFAR10

    target = download_target(root)
    try:
        target.mkdir(parents=True, exist_ok=True)
        for train in (True, False):
            CIFAR10(str(target), train=train, download=True)
    except (OSError, RuntimeError) as error:  # URLError, socket errors, bad checksum
        raise DatasetError(
            f"cifar10 could not download from {DOWNLOAD_URL}: the machine seems offline "
            f"({error}); put the data at {target / BATCHES_DIR} (torchvision's format) or "
            f"as class folders {target}/train/<class>/ and {target}/test/<class>/"
        ) from error
    return target
