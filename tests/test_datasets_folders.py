"""Class-folder and hazy/clear data sets built in tmp_path: splits, bad files, errors."""

from __future__ import annotations

import pytest
import torch
from PIL import Image, ImageFile
from test_datasets_helpers import (
    HAZE_OFFSET,
    class_colour,
    make_class_folders,
    make_pairs,
    pair_colour,
    write_image,
    write_text_as_jpg,
    write_truncated_jpeg,
)

from engine.datasets.registry import load_dataset
from engine.errors import CnnlabError, DatasetError


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Keep the fallback cache inside the test's own folder."""
    monkeypatch.setenv("CNNLAB_CACHE", str(tmp_path / "user-cache"))


def test_class_folders_split_the_last_fraction_of_each_class_in_natural_order(tmp_path):
    root = make_class_folders(tmp_path / "vehicles", {"bus": 12, "car": 5})
    bundle = load_dataset("vehicles", tmp_path, image_size=16, test_fraction=0.25)

    assert bundle.task == "classify" and bundle.classes == ["bus", "car"]
    # ceil(0.25·12) = 3 and ceil(0.25·5) = 2; img10..img12 are last in natural order.
    assert bundle.test_names == [
        "bus/img10.png", "bus/img11.png", "bus/img12.png", "car/img4.png", "car/img5.png",
    ]  # fmt: skip
    assert bundle.split_sizes() == {"train": 12, "val": 0, "test": 5}
    assert bundle.test_y.tolist() == [0, 0, 0, 1, 1]
    assert bundle.train_x.dtype == torch.uint8 and bundle.train_x.shape == (12, 3, 16, 16)
    assert bundle.train_y.dtype == torch.int64
    assert bundle.source == str(root)
    assert bundle.skipped == []


def test_images_are_stretched_to_the_size_with_their_colour_kept(tmp_path):
    make_class_folders(tmp_path, {"a": 4, "b": 4})
    bundle = load_dataset("folder", tmp_path, image_size=8)
    # Solid-colour source images of varying aspect: every output pixel keeps the colour.
    first = bundle.train_x[0]
    assert first.shape == (3, 8, 8)
    assert torch.equal(
        first, torch.tensor(class_colour(0, 1), dtype=torch.uint8).view(3, 1, 1).expand(3, 8, 8)
    )


def test_validation_comes_from_the_tail_of_each_class_training_part(tmp_path):
    make_class_folders(tmp_path / "vehicles", {"bus": 12, "car": 5})
    bundle = load_dataset("vehicles", tmp_path, image_size=8, val_fraction=0.25)
    # bus: 3 test, 9 left → ceil(2.25) = 3 val; car: 2 test, 3 left → 1 val.
    assert bundle.val_names == ["bus/img7.png", "bus/img8.png", "bus/img9.png", "car/img3.png"]
    assert bundle.train_names[-1] == "car/img2.png"
    assert bundle.class_counts() == {
        "bus": {"train": 6, "val": 3, "test": 3},
        "car": {"train": 2, "val": 1, "test": 2},
    }


def test_root_may_be_the_data_root_or_the_data_set_folder(tmp_path):
    make_class_folders(tmp_path / "vehicles", {"bus": 4, "car": 4})
    from_root = load_dataset("vehicles", tmp_path, image_size=8)
    from_folder = load_dataset("vehicles", tmp_path / "vehicles", image_size=8)
    assert from_root.source == from_folder.source
    assert torch.equal(from_root.train_x, from_folder.train_x)


def test_default_root_comes_from_the_environment(tmp_path, monkeypatch):
    make_class_folders(tmp_path / "vehicles", {"bus": 4, "car": 4})
    monkeypatch.setenv("CNNLAB_DATA", str(tmp_path))
    assert load_dataset("vehicles", image_size=8).source == str(tmp_path / "vehicles")


def test_bad_files_are_skipped_counted_and_reported(tmp_path):
    root = make_class_folders(tmp_path, {"a": 4, "b": 4}, ext=".jpg")
    write_truncated_jpeg(root / "a" / "broken.jpg")
    write_text_as_jpg(root / "b" / "fake.jpg")
    (root / "b" / "notes.txt").write_text("hello")
    (root / "b" / ".DS_Store").write_bytes(b"\0\1")  # hidden: ignored entirely

    bundle = load_dataset("folder", root, image_size=8)

    reasons = dict(bundle.skipped)
    assert set(reasons) == {"a/broken.jpg", "b/fake.jpg", "b/notes.txt"}
    assert "truncated" in reasons["a/broken.jpg"]
    assert "not a decodable image" in reasons["b/fake.jpg"]
    assert "not an image file type (.txt)" in reasons["b/notes.txt"]
    assert sum(bundle.split_sizes().values()) == 8


def test_greyscale_palette_alpha_and_rotated_images_become_upright_rgb(tmp_path):
    root = tmp_path / "set"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    Image.new("L", (9, 7), 90).save(root / "a" / "grey.jpg")
    Image.new("P", (9, 7), 3).save(root / "a" / "palette.gif")
    Image.new("RGBA", (9, 7), (10, 20, 30, 128)).save(root / "b" / "alpha.png")
    # A 20×10 image, left half black, stored with EXIF "rotate 90° clockwise" (6).
    sideways = Image.new("RGB", (20, 10), (255, 255, 255))
    sideways.paste((0, 0, 0), (0, 0, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways.save(root / "b" / "sideways.png", exif=exif)

    bundle = load_dataset("folder", root, image_size=8, test_fraction=0.5)
    assert bundle.skipped == []
    images = dict(
        zip(
            bundle.train_names + bundle.test_names,
            torch.cat([bundle.train_x, bundle.test_x]),
            strict=True,
        )
    )
    assert images["a/grey.jpg"].shape == (3, 8, 8)
    assert torch.all((images["a/grey.jpg"].int() - 90).abs() <= 2)
    assert images["b/alpha.png"][:, 0, 0].tolist() == [10, 20, 30]
    upright = images["b/sideways.png"].float()
    # Rotated upright, the black half is on top, not on the left.
    assert upright[:, :3].mean() < 30 and upright[:, -3:].mean() > 220


def test_truncated_jpeg_is_skipped_even_if_pillow_was_told_to_accept_it(tmp_path, monkeypatch):
    root = make_class_folders(tmp_path, {"a": 2, "b": 2})
    write_truncated_jpeg(root / "a" / "broken.jpg")
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    bundle = load_dataset("folder", root, image_size=8, test_fraction=0.5)
    assert [name for name, _ in bundle.skipped] == ["a/broken.jpg"]
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # put back afterwards


def test_empty_class_folder_is_an_error_naming_it(tmp_path):
    root = make_class_folders(tmp_path, {"a": 4, "b": 4})
    (root / "empty").mkdir()
    (root / "only_text").mkdir()
    (root / "only_text" / "readme.txt").write_text("x")
    with pytest.raises(DatasetError, match="without images.*empty, only_text"):
        load_dataset("folder", root)


def test_class_whose_every_file_fails_to_decode_is_an_error(tmp_path):
    root = make_class_folders(tmp_path, {"a": 4})
    write_text_as_jpg(root / "b" / "x.jpg")
    with pytest.raises(DatasetError, match=r"class\(es\) b .*no decodable image"):
        load_dataset("folder", root)


def test_too_few_images_for_the_split_names_the_class(tmp_path):
    root = make_class_folders(tmp_path / "set", {"a": 4, "b": 1})
    with pytest.raises(DatasetError, match="too few images in class 'b'"):
        load_dataset("folder", root)
    (root / "b" / "img1.png").rename(root / "a" / "img5.png")
    make_class_folders(root, {"b": 30})
    with pytest.raises(DatasetError, match="too few images in class 'a'.*train 0, test 5"):
        load_dataset("folder", root, test_fraction=0.9)


def test_missing_root_and_missing_layout_say_where_they_looked(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset("vehicles", tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        DatasetError, match=r"looked for class folders .* in .*empty/vehicles or .*empty"
    ):
        load_dataset("vehicles", tmp_path / "empty")
    flat = tmp_path / "flat"
    write_image(flat / "x.png")
    with pytest.raises(DatasetError, match="no data set found"):
        load_dataset("folder", flat)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image_size": 3}, "image_size"),
        ({"image_size": 32.5}, "image_size"),
        ({"test_fraction": 1.5}, "test_fraction"),
        ({"test_fraction": 0}, "test_fraction"),
        ({"test_fraction": "0.2"}, "test_fraction"),
        ({"val_fraction": -0.1}, "val_fraction"),
    ],
)
def test_bad_arguments_are_dataset_errors(tmp_path, kwargs, message):
    make_class_folders(tmp_path, {"a": 4, "b": 4})
    with pytest.raises(DatasetError, match=message):
        load_dataset("folder", tmp_path, **kwargs)


def test_unknown_name_and_folder_without_root_are_clear_errors():
    with pytest.raises(DatasetError, match="unknown data set 'nope'.*vehicles"):
        load_dataset("nope")
    for name in ("folder", "paired"):
        with pytest.raises(CnnlabError, match="--data-root"):
            load_dataset(name)


def test_progress_reports_every_file_up_to_the_total(tmp_path):
    make_class_folders(tmp_path, {"a": 5, "b": 5})
    calls = []
    load_dataset("folder", tmp_path, progress=lambda d, t, m: calls.append((d, t, m)))
    assert calls[0][:2] == (0, 10) and calls[-1][:2] == (10, 10)
    assert [d for d, _, _ in calls] == sorted(d for d, _, _ in calls)
    assert "decoding folder" in calls[-1][2]


def test_a_progress_callback_that_raises_aborts_the_load(tmp_path):
    make_class_folders(tmp_path, {"a": 5, "b": 5})

    def cancel(done, total, message):
        if done > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        load_dataset("folder", tmp_path, progress=cancel)


# ------------------------------------------------------------------------- pairs


def test_pairs_are_matched_by_name_and_the_last_fifth_is_the_test_set(tmp_path):
    make_pairs(tmp_path / "dehaze", 10)
    bundle = load_dataset("dehaze", tmp_path, image_size=8)

    assert bundle.task == "dehaze" and bundle.classes == []
    assert bundle.split_sizes() == {"train": 8, "val": 0, "test": 2}
    assert bundle.test_names == ["hazy/009.png", "hazy/010.png"]
    assert bundle.train_y.dtype == torch.uint8 and bundle.train_y.shape == bundle.train_x.shape
    # Every hazy image is its own clear image + HAZE_OFFSET: the pairing is right.
    diff = bundle.train_x.int() - bundle.train_y.int()
    assert torch.all(diff == HAZE_OFFSET)
    expected = torch.tensor(pair_colour(10), dtype=torch.uint8)
    assert torch.equal(bundle.test_y[-1, :, 0, 0], expected)


def test_pairs_val_fraction_takes_the_tail_of_the_training_pairs(tmp_path):
    make_pairs(tmp_path, 10)
    bundle = load_dataset("paired", tmp_path, image_size=8, val_fraction=0.25)
    assert bundle.val_names == ["hazy/007.png", "hazy/008.png"]
    assert bundle.split_sizes() == {"train": 6, "val": 2, "test": 2}


def test_hazy_image_without_its_clear_pair_is_an_error_listing_names(tmp_path):
    root = make_pairs(tmp_path, 5)
    write_image(root / "hazy" / "lonely.png")
    write_image(root / "hazy" / "alone.png")
    with pytest.raises(
        DatasetError, match=r"2 hazy image\(s\).*no clear image.*alone.png, lonely.png"
    ):
        load_dataset("paired", root)


def test_clear_image_without_hazy_pair_is_only_reported(tmp_path):
    root = make_pairs(tmp_path, 5)
    write_image(root / "clear" / "extra.png")
    bundle = load_dataset("paired", root, image_size=8)
    assert ("clear/extra.png", "clear image without a hazy pair") in bundle.skipped
    assert sum(bundle.split_sizes().values()) == 5


def test_pair_with_an_undecodable_image_is_dropped_and_both_reported(tmp_path):
    root = make_pairs(tmp_path, 6)
    (root / "hazy" / "003.png").unlink()
    write_truncated_jpeg(root / "hazy" / "003.jpg")  # same name, other extension: still paired
    bundle = load_dataset("paired", root, image_size=8)
    reasons = dict(bundle.skipped)
    assert "truncated" in reasons["hazy/003.jpg"]
    assert "partner" in reasons["clear/003.png"]
    assert sum(bundle.split_sizes().values()) == 5
    assert torch.all(bundle.train_x.int() - bundle.train_y.int() == HAZE_OFFSET)


def test_pair_folders_may_use_the_lab_chinese_names(tmp_path):
    make_pairs(tmp_path / "dehaze", 5, hazy="有雾图片", clear="去雾图片")
    bundle = load_dataset("dehaze", tmp_path / "dehaze", image_size=8)
    assert sum(bundle.split_sizes().values()) == 5


def test_two_hazy_images_with_one_name_cannot_be_paired(tmp_path):
    root = make_pairs(tmp_path, 4)
    write_image(root / "hazy" / "001.jpg")
    with pytest.raises(DatasetError, match="two images named '001'"):
        load_dataset("paired", root)


def test_missing_pair_folders_are_reported(tmp_path):
    make_class_folders(tmp_path / "dehaze", {"hazy": 3})
    with pytest.raises(DatasetError, match="'hazy' and 'clear'"):
        load_dataset("dehaze", tmp_path)
