"""`cnnlab runs`, `show` and `compare` on run folders written by the real writer."""

from __future__ import annotations

import pytest
from run_events import run_recorder

from engine.cli import main
from engine.events import EpochEnd, RunFinished, RunStarted


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def write_run(root, run_id, accs, *, lr=0.001, task="classify", status="completed", name=""):
    config = {
        "dataset": "shapes",
        "model": "conv",
        "epochs": len(accs),
        "lr": lr,
        "batch_size": 64,
        "image_size": 32,
        "optimizer": "adam",
        "name": name,
        "model_options": {"widths": [8, 16]},
    }
    writer = run_recorder(root / run_id, run_id, config)
    writer(
        RunStarted(
            run_id, config, str(root / run_id), task, "cpu", 999, ["a", "b"], 8, 4, len(accs)
        )
    )
    for epoch, acc in enumerate(accs, start=1):
        if task == "classify":
            row = {
                "epoch": epoch,
                "train_loss": 1 - acc,
                "test_loss": 1 - acc,
                "test_acc": acc,
                "seconds": 1.5,
                "images_per_second": 10.0,
                "per_class_acc": [acc, 1.0],
                "confusion": [[3, 1], [0, 4]],
            }
        else:
            row = {
                "epoch": epoch,
                "train_loss": 0.1,
                "test_psnr": 20 + acc,
                "test_ssim": acc,
                "seconds": 2.0,
                "images_per_second": 5.0,
            }
        writer(EpochEnd(run_id, epoch, row))
    if status != "running":
        writer(RunFinished(run_id, status, None, {}))
    return root / run_id


def cli(root, *args):
    return main([*args, "--runs-dir", str(root)])


def test_runs_table_lists_runs_with_best_metric_and_damage(tmp_path, capsys):
    write_run(tmp_path, "20240101-000000-conv-shapes-aaaa", [0.5, 0.75])
    write_run(tmp_path, "20240102-000000-conv-shapes-bbbb", [0.6], lr=0.01, status="cancelled")
    (tmp_path / "20240103-000000-conv-shapes-cccc").mkdir()
    assert cli(tmp_path, "runs") == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}  # by short handle
    assert "completed" in lines["aaaa"] and "75.0% @2" in lines["aaaa"]
    assert "lr0.001" in lines["aaaa"] and "bs64" in lines["aaaa"] and "3.0s" in lines["aaaa"]
    assert "cancelled" in lines["bbbb"] and "lr0.01" in lines["bbbb"]
    assert "damaged" in lines["cccc"] and "summary.json is missing" in lines["cccc"]
    assert out.index("cccc") < out.index("bbbb") < out.index("aaaa")  # newest first
    assert cli(tmp_path, "runs", "--status", "cancelled") == 0
    out = capsys.readouterr().out
    assert "bbbb" in out and "aaaa" not in out


def test_runs_on_an_empty_folder(tmp_path, capsys):
    assert cli(tmp_path / "none", "runs") == 0
    assert "no runs" in capsys.readouterr().out


def test_show_prints_summary_epochs_and_confusion(tmp_path, capsys):
    write_run(tmp_path, "20240101-000000-conv-shapes-aaaa", [0.5, 0.75])
    assert cli(tmp_path, "show", "aaaa") == 0
    out = capsys.readouterr().out
    assert "20240101-000000-conv-shapes-aaaa" in out and "completed" in out
    assert "conv (widths=8,16)" in out
    assert "epoch 2: test_acc 75.0%" in out  # best
    assert "confusion" in out and "accuracy" in out
    assert out.count("50.0%") >= 1 and "test_acc" in out  # epochs table


def test_show_unknown_run_is_a_clear_error(tmp_path, capsys):
    assert cli(tmp_path, "show", "zzzz") == 1
    out = capsys.readouterr().out
    assert "no run 'zzzz'" in out and "Traceback" not in out


def test_compare_plots_curves_and_lists_differences(tmp_path, capsys):
    write_run(tmp_path, "20240101-000000-conv-shapes-aaaa", [0.5, 0.75], name="slow")
    write_run(tmp_path, "20240102-000000-conv-shapes-bbbb", [0.6, 0.7, 0.9], lr=0.01)
    assert cli(tmp_path, "compare", "aaaa", "bbbb") == 0
    out = capsys.readouterr().out
    assert "1:slow" in out and "2:conv-shapes-bbbb" in out  # legend
    assert "test_acc" in out and "epoch" in out
    assert "config fields that differ" in out
    diff_line = next(line for line in out.splitlines() if line.strip().startswith("│ lr"))
    assert "0.001" in diff_line and "0.01" in diff_line
    final_line = next(line for line in out.splitlines() if "best test_acc" in line)
    assert "75.0%" in final_line and "90.0%" in final_line


def test_compare_dehaze_defaults_to_psnr(tmp_path, capsys):
    write_run(tmp_path, "20240101-000000-dehaze_conv-haze_synth-aaaa", [0.5, 0.6], task="dehaze")
    write_run(tmp_path, "20240102-000000-dehaze_conv-haze_synth-bbbb", [0.4], task="dehaze")
    assert cli(tmp_path, "compare", "aaaa", "bbbb", "--width", "60") == 0
    out = capsys.readouterr().out
    assert "test_psnr" in out and "configs are" not in out
    assert "20.60 dB" in out


def test_compare_with_a_metric_nobody_has(tmp_path, capsys):
    write_run(tmp_path, "20240101-000000-conv-shapes-aaaa", [0.5])
    write_run(tmp_path, "20240102-000000-conv-shapes-bbbb", [0.6])
    assert cli(tmp_path, "compare", "aaaa", "bbbb", "--metric", "val_acc") == 0
    assert "no run has 'val_acc'" in capsys.readouterr().out
