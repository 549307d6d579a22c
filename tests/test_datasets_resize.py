"""Stretch vs letterbox resizing: exact pixels, one cache per mode, where each mode applies."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from test_datasets_helpers import make_class_folders, make_pairs

import engine.datasets.cache as cache
from engine.datasets.decode import PAD_FILL, decode_image, letterbox_size
from engine.datasets.registry import load_dataset
from engine.errors import DatasetError

RED, BLUE = (220, 20, 20), (20, 20, 220)


@pytest.fixture(autouse=True)
def user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLAB_CACHE", str(tmp_path / "user-cache"))


def _two_tone(path, size):
    """Top (or left, for a tall image) half red, the other half blue: orientation shows."""
    width, height = size
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    if width >= height:
        pixels[: height // 2], pixels[height // 2 :] = RED, BLUE
    else:
        pixels[:, : width // 2], pixels[:, width // 2 :] = RED, BLUE
    Image.fromarray(pixels).save(path)
    return path


def test_letterbox_keeps_a_wide_image_in_the_middle_rows(tmp_path):
    image = decode_image(_two_tone(tmp_path / "wide.png", (40, 20)), 16, "letterbox")
    assert image.shape == (16, 16, 3) and image.dtype == np.uint8
    pad = np.array(PAD_FILL, dtype=np.uint8)
    assert (image[:4] == pad).all() and (image[12:] == pad).all()  # 4 rows above and below
    assert (image[4:6] == RED).all() and (image[10:12] == BLUE).all()  # content: rows 4–11
    assert not (image[4:12] == pad).all(axis=-1).any()  # no padding inside the content


def test_letterbox_pads_a_tall_image_left_and_right(tmp_path):
    image = decode_image(_two_tone(tmp_path / "tall.png", (20, 40)), 16, "letterbox")
    pad = np.array(PAD_FILL, dtype=np.uint8)
    assert (image[:, :4] == pad).all() and (image[:, 12:] == pad).all()
    assert (image[:, 4:6] == RED).all() and (image[:, 10:12] == BLUE).all()


def test_stretch_fills_the_square_and_square_images_agree(tmp_path):
    stretched = decode_image(_two_tone(tmp_path / "wide.png", (40, 20)), 16, "stretch")
    assert (stretched[:6] == RED).all() and (stretched[10:] == BLUE).all()
    square = _two_tone(tmp_path / "square.png", (32, 32))
    assert np.array_equal(
        decode_image(square, 16, "stretch"), decode_image(square, 16, "letterbox")
    )


def test_letterbox_size_keeps_at_least_one_pixel():
    assert letterbox_size(40, 20, 16) == (16, 8)
    assert letterbox_size(1000, 3, 16) == (16, 1)


def test_each_mode_has_its_own_cache_and_neither_evicts_the_other(tmp_path):
    root = make_class_folders(tmp_path / "set", {"a": 4, "b": 4})
    stretch = load_dataset("folder", root, image_size=8)
    letterbox = load_dataset("folder", root, image_size=8, resize="letterbox")
    names = sorted(p.name for p in cache.cache_folder(root).glob("*.pt"))
    assert len(names) == 2 and any("letterbox" in n for n in names), names
    assert not torch.equal(stretch.train_x, letterbox.train_x)  # the sizes vary, so pads show
    again = load_dataset("folder", root, image_size=8)
    assert torch.equal(again.train_x, stretch.train_x)
    assert sorted(p.name for p in cache.cache_folder(root).glob("*.pt")) == names
    files = ["a/img1.png", "b/img1.png"]
    kinds = (cache.cache_kind("classes"), cache.cache_kind("classes", "letterbox"))
    assert kinds == ("classes", "classes-letterbox")
    assert len({cache.fingerprint(root, files, 8, kind) for kind in kinds}) == 2


def test_unknown_mode_and_letterboxed_pairs_are_refused(tmp_path):
    root = make_class_folders(tmp_path / "set", {"a": 2, "b": 2})
    with pytest.raises(DatasetError, match="stretch, letterbox"):
        load_dataset("folder", root, image_size=8, resize="crop")
    pairs = make_pairs(tmp_path / "pairs", 5)
    with pytest.raises(DatasetError, match="classification only"):
        load_dataset("paired", pairs, image_size=8, resize="letterbox")
