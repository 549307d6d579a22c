"""The data path under faults: file names that are not UTF-8, 16-bit PNGs, one-class sets,
hazy/clear pairs of different sizes, and data folders that are read-only or shared —
which cnnlab reads and never writes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_datasets_helpers import make_class_folders, make_pairs, write_image

from engine.cli import main
from engine.datasets import probe_dataset
from engine.datasets.registry import load_dataset
from engine.errors import DatasetError


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    folder = tmp_path / "user-cache"
    monkeypatch.setenv("CNNLAB_CACHE", str(folder))
    return folder


def _listing(root: Path) -> list[tuple[bytes, int, int]]:
    """Every entry under `root` (raw names) with size and mtime: what "untouched" means."""
    entries = []
    for folder, dirs, files in os.walk(os.fsencode(root)):
        for name in [*dirs, *files]:
            info = os.lstat(os.path.join(folder, name))
            entries.append((os.path.join(folder, name), info.st_size, info.st_mtime_ns))
    return sorted(entries)


# --- file names that are not UTF-8 ---------------------------------------------------------


def _non_utf8_set(root: Path) -> Path:
    make_class_folders(root, {"a": 4, "b": 4})
    base = os.fsencode(root)
    os.rename(base + b"/a/img2.png", base + b"/a/caf\xe9.png")  # Latin-1 é
    with open(base + b"/b/bad\xff.jpg", "w") as handle:  # and a broken one
        handle.write("not an image")
    return root


def test_non_utf8_file_names_load_and_skipped_ones_are_shown_escaped(tmp_path):
    root = _non_utf8_set(tmp_path / "set")
    bundle = load_dataset("folder", root, image_size=8)
    assert sum(bundle.split_sizes().values()) == 8  # caf\xe9.png decoded, bad\xff.jpg not
    assert bundle.skipped == [
        ("b/bad\\xff.jpg", "not a decodable image (Pillow cannot identify it)")
    ]
    again = load_dataset("folder", root, image_size=8)  # from the cache
    assert torch.equal(again.train_x, bundle.train_x)
    status = probe_dataset("folder", root)
    assert status.found and status.count == 9


def test_a_non_utf8_class_folder_is_named_escaped(tmp_path):
    root = make_class_folders(tmp_path / "set", {"a": 4, "b": 4})
    os.rename(os.fsencode(root / "b"), os.fsencode(root) + b"/b\xe9")
    bundle = load_dataset("folder", root, image_size=8)
    assert bundle.classes == ["a", "b\\xe9"]
    "".join(bundle.classes).encode("utf-8")  # printable and JSON-safe


@pytest.mark.slow
def test_training_on_non_utf8_names_records_a_readable_run(tmp_path, capsys):
    root = _non_utf8_set(tmp_path / "set")
    runs = tmp_path / "runs"
    code = main(["train", "--dataset", "folder", "--data-root", str(root), "--epochs", "1",
                 "--image-size", "8", "--batch-size", "4", "--model-opt", "widths=4",
                 "--device", "cpu", "--runs-dir", str(runs), "--quiet"])  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "bad\\xff.jpg" in out.out
    (run,) = runs.iterdir()
    assert "skipped b/bad\\xff.jpg" in (run / "run.log").read_text(encoding="utf-8")
    assert main(["runs", "--runs-dir", str(runs)]) == 0
    assert "completed" in capsys.readouterr().out


# --- 16-bit PNG -----------------------------------------------------------------------------


def test_16_bit_png_is_scaled_to_8_bits_not_saturated(tmp_path):
    root = tmp_path / "set"
    levels = np.array([0, 257, 32768, 65535], dtype=np.uint16)  # → 0, 1, 128, 255
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(4):
            grey = np.full((8, 8), levels[i], dtype=np.uint16)
            Image.fromarray(grey).save(root / name / f"img{i}.png")
    assert Image.open(root / "a" / "img2.png").mode == "I;16"
    bundle = load_dataset("folder", root, image_size=8, test_fraction=0.25)
    pixels = sorted({int(v) for v in torch.cat([bundle.train_x, bundle.test_x]).unique()})
    assert pixels == [0, 1, 128, 255]


# --- one class ------------------------------------------------------------------------------


def test_a_one_class_set_is_refused_before_training(tmp_path, capsys):
    root = make_class_folders(tmp_path / "set", {"only": 8})
    with pytest.raises(DatasetError, match="at least 2 classes"):
        load_dataset("folder", root, image_size=8)
    status = probe_dataset("folder", root)
    assert status.state == "error" and "at least 2 classes" in status.message
    runs = tmp_path / "runs"
    code = main(["train", "--dataset", "folder", "--data-root", str(root), "--epochs", "1",
                 "--image-size", "8", "--runs-dir", str(runs), "--quiet"])  # fmt: skip
    assert code == 1 and "at least 2 classes" in capsys.readouterr().err.replace("\n", " ")
    assert not list(runs.glob("*/last.pt")), "nothing trained"


# --- pairs of different sizes ---------------------------------------------------------------


def test_pairs_of_different_sizes_load_with_a_warning_naming_them(tmp_path, capsys):
    root = make_pairs(tmp_path / "pairs", 6)
    write_image(root / "clear" / "002.png", (10, 20, 30), (28, 18))  # twice the hazy size
    write_image(root / "clear" / "005.png", (10, 20, 30), (14, 10))
    bundle = load_dataset("paired", root, image_size=8)
    (warning,) = bundle.warnings
    assert "2 pair(s)" in warning and "002.png (14×9 vs 28×18)" in warning
    assert "005.png (14×9 vs 14×10)" in warning and "001.png" not in warning
    assert load_dataset("paired", make_pairs(tmp_path / "fine", 5), image_size=8).warnings == []
    assert main(["datasets", "paired", "--data-root", str(root), "--check",
                 "--image-size", "8"]) == 0  # fmt: skip
    assert "002.png (14×9 vs 28×18)" in capsys.readouterr().out.replace("\n", "")


# --- read-only and shared data folders ------------------------------------------------------


def _mount_read_only(source: Path, target: Path) -> None:
    target.mkdir()
    commands = [["mount", "--bind", str(source), str(target)],
                ["mount", "-o", "remount,ro,bind", str(target)]]  # fmt: skip
    for command in commands:
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            subprocess.run(["umount", str(target)], capture_output=True)
            pytest.skip(f"cannot make a read-only bind mount here: {result.stderr.strip()}")


@pytest.fixture
def read_only_copy(tmp_path):
    """A read-only view (bind mount) of a small data set: writes fail even for root."""
    source = tmp_path / "source"
    make_class_folders(source / "classes", {"a": 4, "b": 4})
    make_pairs(source / "pairs", 5)
    target = tmp_path / "ro"
    _mount_read_only(source, target)
    try:
        with pytest.raises(OSError):
            (target / "probe").write_text("x")
        yield source, target
    finally:
        subprocess.run(["umount", str(target)], check=False)


def test_a_read_only_data_root_loads_and_stays_untouched(read_only_copy, private_cache):
    source, target = read_only_copy
    before = _listing(source)
    first = load_dataset("folder", target / "classes", image_size=8)
    again = load_dataset("folder", target / "classes", image_size=8)
    pairs = load_dataset("paired", target / "pairs", image_size=8)
    assert torch.equal(first.train_x, again.train_x) and pairs.split_sizes()["test"] == 1
    assert _listing(source) == before
    assert len(list(private_cache.rglob("*.pt"))) == 2  # one per set, in the user cache


def test_loading_never_writes_into_a_writable_data_folder(tmp_path):
    """Nothing appears in the data folder, so torchvision's ImageFolder still sees exactly
    its classes (a hidden cache folder used to become one more class)."""
    from torchvision.datasets import ImageFolder

    root = make_class_folders(tmp_path / "set", {"a": 4, "b": 4})
    before = _listing(root)
    load_dataset("folder", root, image_size=8)
    load_dataset("folder", root, image_size=8, resize="letterbox")
    assert _listing(root) == before
    assert ImageFolder(str(root), allow_empty=True).classes == ["a", "b"]


def test_cache_dir_flag_chooses_the_cache_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CNNLAB_CACHE")
    root = make_class_folders(tmp_path / "set", {"a": 4, "b": 4})
    chosen = tmp_path / "chosen-cache"
    args = ["datasets", "folder", "--data-root", str(root), "--check", "--image-size", "8"]
    assert main([*args, "--cache-dir", str(chosen)]) == 0
    assert len(list(chosen.rglob("*.pt"))) == 1
    assert os.environ["CNNLAB_CACHE"] == str(chosen)
