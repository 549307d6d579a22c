"""`cnnlab train` end to end (in-process), its flags, errors and exit codes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.cli import build_parser, main
from engine.runs import RunStore
from engine.trainer import config_fields

REPO = Path(__file__).resolve().parents[1]
# 18 px: the smallest size quick-shapes' dilated net (dilations 1, 2, 5) accepts is 17.
FAST = ["--device", "cpu", "--image-size", "18", "--epochs", "1", "--quiet"]


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch, one_thread):
    """A 160-column terminal for the CLI's output, and one torch thread (see conftest)."""
    monkeypatch.setenv("COLUMNS", "160")


def train(tmp_path, *flags: str) -> int:
    return main(["train", "--runs-dir", str(tmp_path / "runs"), *flags])


def test_every_config_field_has_a_kebab_case_flag():
    train_parser = build_parser()._subparsers._group_actions[0].choices["train"]
    flags = {opt for action in train_parser._actions for opt in action.option_strings}
    for spec in config_fields():
        expected = "--model-opt" if spec.name == "model_options" else spec.flag
        assert expected in flags, spec.name
    assert {"--preset", "--resume", "--runs-dir", "--no-amp"} <= flags


def test_train_shapes_end_to_end(tmp_path, capsys):
    code = train(
        tmp_path,
        "--preset",
        "quick-shapes",
        *FAST,
        "--max-train-batches",
        "3",
        "--model-opt",
        "widths=4,8",
        "--name",
        "cli test",
    )
    out = capsys.readouterr().out
    assert code == 0
    [record] = RunStore(tmp_path / "runs").list_runs()
    assert record.status == "completed" and record.run_id in out
    assert f"run folder: {record.path}" in out
    assert "test_acc" in out and "train_loss" in out  # the per-epoch table
    config = record.config
    assert config["preset"] == "quick-shapes" and config["image_size"] == 18
    assert config["model_options"] == {"widths": [4, 8]} and config["name"] == "cli test"
    assert config["max_train_batches"] == 3


def test_train_with_letterbox_resize(tmp_path, capsys):
    code = train(tmp_path, "--preset", "quick-shapes", *FAST, "--max-train-batches", "2",
                 "--resize", "letterbox")  # fmt: skip
    assert code == 0, capsys.readouterr().out
    [record] = RunStore(tmp_path / "runs").list_runs()
    assert record.status == "completed" and record.config["resize"] == "letterbox"


def test_train_haze_synth_end_to_end(tmp_path, capsys):
    code = train(
        tmp_path,
        "--dataset",
        "haze_synth",
        "--model",
        "dehaze_conv",
        "--model-opt",
        "layers=2",
        "--model-opt",
        "width=8",
        "--batch-size",
        "25",
        *FAST,
    )
    out = capsys.readouterr().out
    assert code == 0
    [record] = RunStore(tmp_path / "runs").list_runs()
    assert record.summary["task"] == "dehaze" and record.summary["final"]["test_psnr"] > 0
    assert "test_psnr" in out and "samples:" in out
    assert len(list((record.path / "samples").glob("*.png"))) == 4


def test_validation_errors_are_listed_with_exit_code_2(tmp_path, capsys):
    code = train(tmp_path, "--lr", "-1", "--model", "nope", "--epochs", "0")
    err = capsys.readouterr().err
    assert code == 2
    assert "invalid configuration" in err
    for field in ("lr:", "model:", "epochs:"):
        assert field in err
    assert "Traceback" not in err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("flags", "field"),
    [
        (["--model-opt", "widths"], "model_options"),
        (["--preset", "nope"], "preset"),
        (["--model-opt", "nonsense=1"], "model_options"),
    ],
)
def test_bad_preset_or_model_option(tmp_path, capsys, flags, field):
    assert train(tmp_path, *flags) == 2
    assert f"{field}:" in capsys.readouterr().err


def test_dataset_error_prints_message_exits_1_and_records_a_failed_run(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    code = train(tmp_path, "--dataset", "folder", "--data-root", str(empty), *FAST)
    captured = capsys.readouterr()
    err = " ".join(captured.err.split())  # rich wraps long lines
    assert code == 1
    assert "failed: no data set found" in err and "Traceback" not in err
    [record] = RunStore(tmp_path / "runs").list_runs()
    assert record.status == "failed" and "no data set found" in record.summary["error"]
    assert f"recorded as a failed run: cnnlab show {record.path}" in err
    assert f"run folder: {record.path}" in captured.out


def test_flag_type_errors_come_from_argparse(tmp_path, capsys):
    with pytest.raises(SystemExit) as excinfo:
        train(tmp_path, "--batch-size", "many")
    assert excinfo.value.code == 2
    # the config's own parser: the same message the form and --grid give for "many"
    assert "argument --batch-size: must be a whole number, got 'many'" in capsys.readouterr().err


def test_resume_from_the_cli_continues_the_same_run(tmp_path, capsys):
    assert train(tmp_path, "--preset", "quick-shapes", *FAST, "--max-train-batches", "2") == 0
    [record] = RunStore(tmp_path / "runs").list_runs()
    assert train(tmp_path, "--resume", record.run_id[-4:], "--epochs", "2", "--quiet") == 0
    out = capsys.readouterr().out
    assert "resuming after epoch 1" in out
    [record] = RunStore(tmp_path / "runs").list_runs()
    assert [row["epoch"] for row in record.metrics] == [1, 2]
    assert record.config["epochs"] == 2 and record.status == "completed"
    assert train(tmp_path, "--resume", record.run_id, "--image-size", "24") == 2


@pytest.mark.slow
def test_ctrl_c_cancels_cleanly(tmp_path):
    """SIGINT to a real `cnnlab train` process: exit 130, run saved as cancelled."""
    runs = tmp_path / "runs"
    command = [
        sys.executable,
        "-m",
        "engine",
        "train",
        "--preset",
        "quick-shapes",
        "--epochs",
        "200",
        "--image-size",
        "18",
        "--device",
        "cpu",
        "--quiet",
        "--runs-dir",
        str(runs),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            records = RunStore(runs).list_runs()
            if records and records[0].metrics:
                break
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err
    [record] = RunStore(runs).list_runs()
    assert record.status == "cancelled"
    assert record.summary["epochs_completed"] >= 1
    assert "--resume" in err and "Traceback" not in err
