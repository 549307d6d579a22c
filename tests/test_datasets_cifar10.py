"""CIFAR-10 in both layouts (fake, tiny), and --download when the machine is offline."""

from __future__ import annotations

import pickle
import urllib.error

import numpy as np
import pytest
import torch
import torchvision.datasets
import torchvision.datasets.cifar
from test_datasets_helpers import write_image

from engine.datasets import probe_dataset
from engine.datasets.cifar10 import download_cifar10, resize_uint8
from engine.datasets.registry import load_dataset
from engine.errors import DatasetError

CLASSES = ["cat", "dog"]


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLAB_CACHE", str(tmp_path / "user-cache"))


def make_cifar_folders(root, train=4, test=2, classes=CLASSES):
    for split, n in (("train", train), ("test", test)):
        for index, name in enumerate(classes):
            for item in range(n):
                colour = (100 * index, 10 * item, 50 if split == "train" else 150)
                write_image(root / split / name / f"{item:04d}.png", colour, (32, 32))
    return root


def make_cifar_batches(root, per_batch=4, test=6):
    """torchvision's pickled layout with a few images per batch (checksums are faked)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)

    def dump(name, n, start):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [(start + i) % 10 for i in range(n)]  # every class twice over the 5 batches
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, "labels": labels}, f)

    for b in range(1, 6):
        dump(f"data_batch_{b}", per_batch, (b - 1) * per_batch)
    dump("test_batch", test, 0)
    names = [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": names}, f)
    return root


def test_class_folder_layout_uses_its_own_test_set(tmp_path):
    make_cifar_folders(tmp_path / "cifar10")
    bundle = load_dataset("cifar10", tmp_path, test_fraction=0.5)  # ignored: own test set
    assert bundle.classes == CLASSES
    assert bundle.split_sizes() == {"train": 8, "val": 0, "test": 4}
    assert bundle.test_names[0] == "test/cat/0000.png"
    assert torch.all(bundle.test_x[:, 2] == 150) and torch.all(bundle.train_x[:, 2] == 50)


def test_class_folder_layout_carves_validation_from_each_training_class(tmp_path):
    make_cifar_folders(tmp_path)
    bundle = load_dataset("cifar10", tmp_path, val_fraction=0.25)
    assert bundle.val_names == ["train/cat/0003.png", "train/dog/0003.png"]
    assert bundle.class_counts()["dog"] == {"train": 3, "val": 1, "test": 2}


def test_class_folders_must_agree_between_train_and_test(tmp_path):
    make_cifar_folders(tmp_path)
    write_image(tmp_path / "test" / "cow" / "0000.png")
    with pytest.raises(DatasetError, match="class folders differ"):
        load_dataset("cifar10", tmp_path)


def test_torchvision_layout_is_read_and_resized(tmp_path, monkeypatch):
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *a, **k: True)
    make_cifar_batches(tmp_path / "cifar10")
    bundle = load_dataset("cifar10", tmp_path, image_size=16, val_fraction=0.2)
    assert bundle.classes[0] == "airplane" and len(bundle.classes) == 10
    assert bundle.split_sizes()["test"] == 6
    assert bundle.split_sizes() == {"train": 10, "val": 10, "test": 6}  # 2 per class: 1 + 1
    assert bundle.train_x.shape[1:] == (3, 16, 16) and bundle.train_x.dtype == torch.uint8
    # Also found from the batches folder itself, and the probe sees it.
    again = load_dataset("cifar10", tmp_path / "cifar10" / "cifar-10-batches-py")
    assert again.train_x.shape[-1] == 32
    assert probe_dataset("cifar10", tmp_path).found


def test_damaged_torchvision_layout_is_a_clear_error(tmp_path):
    make_cifar_batches(tmp_path)  # real checksums do not match the fake files
    with pytest.raises(DatasetError, match="incomplete or damaged.*--download"):
        load_dataset("cifar10", tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DatasetError, match="incomplete: data_batch_3 missing"):
        load_dataset("cifar10", tmp_path)
    status = probe_dataset("cifar10", tmp_path)
    assert status.state == "error" and "data_batch_3" in status.message


def test_resize_uint8_keeps_flat_colours_exactly():
    images = torch.full((3, 3, 32, 32), 77, dtype=torch.uint8)
    out = resize_uint8(images, 20)
    assert out.shape == (3, 3, 20, 20) and out.dtype == torch.uint8
    assert torch.all(out == 77)


def test_download_offline_says_so_and_where_to_put_the_data(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    with pytest.raises(DatasetError) as caught:
        download_cifar10(tmp_path)
    message = str(caught.value)
    assert "could not download" in message and "offline" in message
    assert str(tmp_path / "cifar10" / "cifar-10-batches-py") in message


def test_download_lands_in_the_cifar10_folder(tmp_path, monkeypatch):
    calls = []

    class FakeCIFAR10:
        def __init__(self, root, train, download):
            calls.append((root, train, download))

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    assert download_cifar10(tmp_path) == tmp_path / "cifar10"
    assert download_cifar10(tmp_path / "cifar10") == tmp_path / "cifar10"
    assert calls[:2] == [
        (str(tmp_path / "cifar10"), True, True),
        (str(tmp_path / "cifar10"), False, True),
    ]
