"""The course's real data sets under ../shared/data (skipped with a reason when absent).

Exact counts come from the lab: vehicles 218 / 779 / 360 with the last 25 % of each class
as the test set → 1,017 train / 340 test; dehaze 520 pairs, last 20 % → 416 / 104.
The shared folder is read-only, so decodes are cached under the user cache
(~/.cache/cnnlab): the first run decodes, later runs load in a fraction of a second.
"""

from __future__ import annotations

import pytest
import torch

from engine.datasets import probe_dataset
from engine.datasets.registry import load_dataset

pytestmark = pytest.mark.realdata


@pytest.fixture
def vehicles(vehicles_root):
    return load_dataset("vehicles", vehicles_root, image_size=32)  # cached after the first run


def test_vehicles_split_matches_the_lab(vehicles, vehicles_root):
    assert vehicles.classes == ["bus", "car", "truck"]
    assert vehicles.split_sizes() == {"train": 1017, "val": 0, "test": 340}
    assert vehicles.class_counts() == {
        "bus": {"train": 163, "val": 0, "test": 55},
        "car": {"train": 584, "val": 0, "test": 195},
        "truck": {"train": 270, "val": 0, "test": 90},
    }
    assert vehicles.skipped == []
    assert (
        vehicles.test_names[0] == "bus/bus164.jpg"
        and vehicles.test_names[-1] == "truck/truck360.jpg"
    )
    assert vehicles.train_x.shape == (1017, 3, 32, 32) and vehicles.train_x.dtype == torch.uint8
    assert vehicles.source == str(vehicles_root)


def test_vehicles_found_from_the_data_root_too(vehicles, vehicles_root):
    again = load_dataset("vehicles", vehicles_root.parent, image_size=32)  # cached
    assert torch.equal(again.test_x, vehicles.test_x)


def test_probes_count_the_real_files_without_decoding(vehicles_root, dehaze_root, cifar10_root):
    vehicles = probe_dataset("vehicles", vehicles_root)
    assert vehicles.found and vehicles.count == 1357 and vehicles.skipped == []
    assert sum(s["test"] for s in vehicles.splits.values()) == 340
    dehaze = probe_dataset("dehaze", dehaze_root.parent)
    assert dehaze.splits == {"pairs": {"train": 416, "val": 0, "test": 104}}
    cifar = probe_dataset("cifar10", cifar10_root)
    assert cifar.count == 60000 and cifar.splits["cat"] == {"train": 5000, "val": 0, "test": 1000}


@pytest.mark.slow
def test_dehaze_pairs_split_and_decode_at_64_px(dehaze_root):
    bundle = load_dataset("dehaze", dehaze_root, image_size=64)
    assert bundle.split_sizes() == {"train": 416, "val": 0, "test": 104}
    assert bundle.test_names[0] == "hazy/417.jpg" and bundle.test_names[-1] == "hazy/520.jpg"
    assert bundle.train_x.shape == bundle.train_y.shape == (416, 3, 64, 64)
    # Airlight makes each hazy photo brighter than its clear pair (SOURCES.md).
    hazy, clear = bundle.test_x.float(), bundle.test_y.float()
    assert (hazy.mean(dim=(1, 2, 3)) > clear.mean(dim=(1, 2, 3))).float().mean() > 0.9


@pytest.mark.slow
def test_cifar10_class_folders_load_with_their_own_test_set(cifar10_root):
    bundle = load_dataset("cifar10", cifar10_root.parent, val_fraction=0.1)
    assert len(bundle.classes) == 10
    assert bundle.split_sizes() == {"train": 45000, "val": 5000, "test": 10000}
    assert bundle.skipped == []
