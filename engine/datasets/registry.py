"""Loading a data set by name: decoded (through the cache) into a `DatasetBundle`.

Which sets exist, where data lives by default and the cheap probes are in `catalog`
(torch-free); this module is the one that needs torch.
"""

from __future__ import annotations

import logging
import os

from engine.datasets import cifar10, folders, synthetic
from engine.datasets.bundle import DatasetBundle
from engine.datasets.catalog import data_root, get_info, locate_dataset
from engine.datasets.decode import ProgressFn, check_resize
from engine.datasets.split import check_fraction
from engine.errors import DatasetError
from engine.trainer.config import MAX_IMAGE_SIZE, MIN_IMAGE_SIZE

log = logging.getLogger(__name__)


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
            data_root(root, info), progress=progress, resize=resize, **options
        )
    elif info.task == "dehaze":
        folder = locate_dataset(info, data_root(root, info))
        bundle = folders.load_pairs(folder, name=name, progress=progress, **options)
    else:
        folder = locate_dataset(info, data_root(root, info))
        bundle = folders.load_class_folders(
            folder, name=name, progress=progress, resize=resize, **options
        )
    sizes = bundle.split_sizes()
    log.info(
        "loaded %s from %s: %d train / %d val / %d test, %d skipped",
        name, bundle.source, sizes["train"], sizes["val"], sizes["test"], len(bundle.skipped),
    )  # fmt: skip
    return bundle
