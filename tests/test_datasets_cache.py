"""The decode cache: reused when nothing changed, missed when anything did, never required,
and always in the user's cache folder — never inside the data."""

from __future__ import annotations

import logging
import os

import pytest
import torch
from test_datasets_helpers import make_class_folders, make_pairs, write_image

import engine.datasets.cache as cache
import engine.datasets.decode as decode
from engine.datasets.registry import load_dataset


@pytest.fixture
def user_cache(tmp_path, monkeypatch):
    folder = tmp_path / "user-cache"
    monkeypatch.setenv("CNNLAB_CACHE", str(folder))
    return folder


@pytest.fixture
def decodes(monkeypatch):
    """Counts calls to the per-file decoder."""
    calls = []
    real = decode.decode_image

    def counting(path, image_size, resize="stretch"):
        calls.append(path.name)
        return real(path, image_size, resize)

    monkeypatch.setattr(decode, "decode_image", counting)
    return calls


def _cache_files(folder):
    return sorted(p.name for p in folder.rglob("*.pt")) if folder.exists() else []


def _listing(root):
    """Every path under `root` with its size and mtime: what "untouched" compares."""
    return sorted((str(p.relative_to(root)), p.lstat().st_size, p.lstat().st_mtime_ns)
                  for p in [root, *root.rglob("*")])  # fmt: skip


def test_second_load_reads_the_cache_instead_of_decoding(tmp_path, user_cache, decodes):
    root = make_class_folders(tmp_path / "set", {"a": 4, "b": 4})
    before = _listing(root)
    first = load_dataset("folder", root, image_size=8)
    assert len(decodes) == 8
    assert len(_cache_files(user_cache)) == 1
    assert _listing(root) == before  # nothing written into the data folder

    second = load_dataset("folder", root, image_size=8)
    assert len(decodes) == 8  # nothing decoded again
    assert torch.equal(first.train_x, second.train_x)
    assert first.test_names == second.test_names


def test_cache_hit_still_reports_progress_to_the_end(tmp_path, user_cache):
    root = make_class_folders(tmp_path / "set", {"a": 3, "b": 3})
    load_dataset("folder", root, image_size=8)
    calls = []
    load_dataset("folder", root, image_size=8, progress=lambda *a: calls.append(a))
    assert calls[-1][:2] == (6, 6) and "cache" in calls[-1][2]


def test_a_changed_file_misses_the_cache_and_replaces_it(tmp_path, user_cache, decodes):
    root = make_class_folders(tmp_path / "set", {"a": 4, "b": 4})
    load_dataset("folder", root, image_size=8)
    decodes.clear()

    target = root / "b" / "img4.png"
    write_image(target, (1, 2, 3))
    stat = target.stat()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    bundle = load_dataset("folder", root, image_size=8)

    assert len(decodes) == 8
    assert bundle.test_x[-1, :, 0, 0].tolist() == [1, 2, 3]
    assert len(_cache_files(user_cache)) == 1  # the stale file is gone


def test_an_added_file_or_another_size_misses_the_cache(tmp_path, user_cache, decodes):
    root = make_class_folders(tmp_path / "set", {"a": 4, "b": 4})
    load_dataset("folder", root, image_size=8)
    load_dataset("folder", root, image_size=12)
    assert len(decodes) == 16
    assert len(_cache_files(user_cache)) == 2  # one per size

    write_image(root / "a" / "img9.png")
    load_dataset("folder", root, image_size=8)
    assert len(decodes) == 16 + 9


def test_a_new_loader_version_misses_the_cache(tmp_path, user_cache, decodes, monkeypatch):
    root = make_pairs(tmp_path / "pairs", 5)
    load_dataset("paired", root, image_size=8)
    monkeypatch.setattr(cache, "LOADER_VERSION", cache.LOADER_VERSION + 1)
    load_dataset("paired", root, image_size=8)
    assert len(decodes) == 20


def test_read_only_data_set_caches_under_the_user_cache(tmp_path, user_cache, decodes):
    root = make_class_folders(tmp_path / "set", {"a": 4, "b": 4})
    for folder in (root, root / "a", root / "b"):
        folder.chmod(0o555)
    try:
        load_dataset("folder", root, image_size=8)
        load_dataset("folder", root, image_size=8)
    finally:
        for folder in (root, root / "a", root / "b"):
            folder.chmod(0o755)
    assert not (root / cache.LEGACY_DIRNAME).exists()  # even root must not write there
    assert len(_cache_files(user_cache)) == 1
    assert len(decodes) == 8


def test_the_cache_root_follows_xdg_and_the_cache_flag(tmp_path, monkeypatch):
    monkeypatch.delenv("CNNLAB_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.user_cache_dir() == tmp_path / "xdg" / "cnnlab"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.user_cache_dir() == tmp_path / "home" / ".cache" / "cnnlab"
    cache.use_cache_dir(tmp_path / "flag")  # what --cache-dir does
    assert cache.user_cache_dir() == tmp_path / "flag"


def test_a_cache_left_in_the_data_folder_by_an_older_version_is_read(tmp_path, user_cache, decodes):
    root = make_class_folders(tmp_path / "set", {"a": 4, "b": 4})
    load_dataset("folder", root, image_size=8)
    (old,) = user_cache.rglob("*.pt")
    (root / cache.LEGACY_DIRNAME).mkdir()
    old.rename(root / cache.LEGACY_DIRNAME / old.name)
    load_dataset("folder", root, image_size=8)
    assert len(decodes) == 8  # served from the old location, not decoded again


def test_a_damaged_cache_file_is_ignored_and_rewritten(tmp_path, user_cache, decodes, caplog):
    root = make_class_folders(tmp_path / "set", {"a": 4, "b": 4})
    load_dataset("folder", root, image_size=8)
    (cached,) = user_cache.rglob("*.pt")
    cached.write_bytes(b"not a torch file")
    with caplog.at_level(logging.WARNING, logger="engine.datasets.cache"):
        bundle = load_dataset("folder", root, image_size=8)
    assert "unreadable cache" in caplog.text
    assert len(decodes) == 16 and bundle.split_sizes()["train"] == 6
    load_dataset("folder", root, image_size=8)
    assert len(decodes) == 16  # the rewritten cache works


def test_no_writable_cache_anywhere_still_loads(tmp_path, monkeypatch, decodes, caplog):
    root = make_class_folders(tmp_path / "set", {"a": 4, "b": 4})
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("CNNLAB_CACHE", str(blocker / "cache"))
    with caplog.at_level(logging.WARNING, logger="engine.datasets.cache"):
        bundle = load_dataset("folder", root, image_size=8)
    assert bundle.split_sizes()["test"] == 2
    assert "cannot write the decode cache" in caplog.text and "--cache-dir" in caplog.text
    assert _cache_files(tmp_path) == []
