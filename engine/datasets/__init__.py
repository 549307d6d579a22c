"""Real and synthetic data sets, decoded once into uint8 tensors.

`load_dataset(name, root)` returns a `DatasetBundle` (train / val / test uint8 tensors);
`probe_dataset` / `list_datasets` report what is on disk without decoding;
`to_float` / `augment_batch` / `augment_pair` normalise and augment whole batches.
"""

from engine.datasets.augment import (
    AUGMENTATIONS,
    NORMALIZATIONS,
    augment_batch,
    augment_pair,
    to_float,
)
from engine.datasets.bundle import DatasetBundle, DatasetStatus
from engine.datasets.registry import (
    DATASETS,
    DatasetInfo,
    default_data_root,
    list_datasets,
    load_dataset,
    probe_dataset,
)

__all__ = [
    "AUGMENTATIONS",
    "DATASETS",
    "NORMALIZATIONS",
    "DatasetBundle",
    "DatasetInfo",
    "DatasetStatus",
    "augment_batch",
    "augment_pair",
    "default_data_root",
    "list_datasets",
    "load_dataset",
    "probe_dataset",
    "to_float",
]
