"""`cnnlab datasets`: the table of what is found, --check, and errors without tracebacks."""

from __future__ import annotations

import urllib.error

import pytest
import torchvision.datasets
from test_datasets_helpers import make_class_folders, make_pairs, write_text_as_jpg

from engine.cli import main


@pytest.fixture(autouse=True)
def wide_console(monkeypatch, tmp_path):
    monkeypatch.setenv("COLUMNS", "200")  # keep rich from folding paths in the table
    monkeypatch.setenv("CNNLAB_CACHE", str(tmp_path / "user-cache"))
    monkeypatch.delenv("CNNLAB_DATA", raising=False)


def _data_root(tmp_path):
    make_class_folders(tmp_path / "data" / "vehicles", {"bus": 8, "car": 4, "truck": 4})
    make_pairs(tmp_path / "data" / "dehaze", 10)
    return tmp_path / "data"


def test_lists_found_and_missing_sets_with_counts_per_class_and_split(tmp_path, capsys):
    root = _data_root(tmp_path)
    assert main(["datasets", "--data-root", str(root)]) == 0
    out = capsys.readouterr().out
    lines = {}  # first table row per label ("pairs" of dehaze comes before haze_synth's)
    for line in out.splitlines():
        if line.count("│") > 4:
            lines.setdefault(line.split("│")[1].strip(), line)
    assert "found" in lines["vehicles"] and str(root / "vehicles") in lines["vehicles"]
    assert "found" in lines["dehaze"] and " 10 " in lines["dehaze"]
    assert "missing" in lines["cifar10"] and "looked for" in lines["cifar10"]
    assert "found" in lines["shapes"]
    # bus: 8 files → 6 train / 2 test; pairs: 10 → 8 / 2.
    assert lines["bus"].split("│")[2:6] == ["     6 ", "   0 ", "    2 ", "     8 "]
    assert [c.strip() for c in lines["pairs"].split("│")[2:6]] == ["8", "0", "2", "10"]


def test_names_restrict_the_listing(tmp_path, capsys):
    root = _data_root(tmp_path)
    assert main(["datasets", "dehaze", "--data-root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "dehaze" in out and "vehicles" not in out and "shapes" not in out


def test_check_decodes_and_lists_skipped_files(tmp_path, capsys):
    root = _data_root(tmp_path)
    write_text_as_jpg(root / "vehicles" / "car" / "fake.jpg")
    assert (
        main(["datasets", "vehicles", "--check", "--data-root", str(root), "--image-size", "8"])
        == 0
    )
    out = capsys.readouterr().out
    assert "decoded at 8 px" in out
    assert "1 file(s) skipped" in out and "car/fake.jpg: not a decodable image" in out


def test_check_reports_a_broken_set_as_an_error_without_traceback(tmp_path, capsys):
    root = make_pairs(tmp_path / "pairs", 4)
    write_text_as_jpg(root / "hazy" / "lonely.jpg")
    assert main(["datasets", "paired", "--data-root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "error" in out and "lonely.jpg" in out
    assert main(["datasets", "paired", "--check", "--data-root", str(root)]) == 0  # not loaded


def test_unknown_name_is_an_error_message(capsys):
    assert main(["datasets", "imagenet"]) == 1
    err = capsys.readouterr().err
    assert "unknown data set(s) imagenet" in err and "Traceback" not in err


def test_download_only_applies_to_cifar10(capsys):
    assert main(["datasets", "vehicles", "--download"]) == 1
    assert "--download only applies to cifar10" in capsys.readouterr().err


def test_download_offline_exits_1_with_a_clear_message(tmp_path, monkeypatch, capsys):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    assert main(["datasets", "--download", "--data-root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "could not download" in err and "offline" in err and "Traceback" not in err
