"""Real and synthetic data sets, decoded once into uint8 tensors.

The package itself re-exports only the torch-free catalogue (`engine.datasets.catalog`):
which sets exist (`DATASETS`), where data lives (`default_data_root`) and what is on disk
(`probe_dataset` / `list_datasets` → `DatasetStatus`), so `cnnlab datasets` and the
dashboard's checks never load torch. The tensor code is imported from its module:
`registry.load_dataset` returns a `bundle.DatasetBundle` (train / val / test uint8
tensors); `augment.to_float` / `augment_batch` / `augment_pair` normalise and augment
whole batches.
"""

from engine.datasets.catalog import (
    DATASETS,
    DatasetInfo,
    DatasetStatus,
    default_data_root,
    list_datasets,
    probe_dataset,
)

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "DatasetStatus",
    "default_data_root",
    "list_datasets",
    "probe_dataset",
]
