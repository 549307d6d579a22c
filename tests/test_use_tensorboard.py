"""`cnnlab tensorboard`: runs as event files that TensorBoard's own reader reads back, and
the per-batch record (`batches.jsonl`) they draw from."""

from __future__ import annotations

import json

import pytest
from use_helpers import dehaze_config, train

from engine.cli import main
from engine.runs import RunStore
from engine.runs.files import read_json_lines
from engine.trainer.loop import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")


def accumulator(folder):
    pytest.importorskip("tensorboard", reason="needs the tensorboard extra")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return events


def test_runs_read_back_with_tensorboards_event_reader(tmp_path, capsys):
    pytest.importorskip("tensorboard", reason="needs the tensorboard extra")
    from test_trainer import tiny

    runs = tmp_path / "runs"
    classify = train(tiny(epochs=3), runs)
    dehaze = train(dehaze_config(), runs)
    out = tmp_path / "tb"
    code = main(["tensorboard", classify, dehaze, "--out", str(out), "--runs-dir", str(runs)])
    assert code == 0 and "tensorboard --logdir" in capsys.readouterr().out

    record = RunStore(runs).get(classify)
    events = accumulator(out / classify)
    tags = events.Tags()["scalars"]
    for tag in ("loss/train", "loss/test", "acc/test", "acc/train", "lr", "loss/train_batch"):
        assert tag in tags
    assert [e.step for e in events.Scalars("acc/test")] == [1, 2, 3]
    assert [e.value for e in events.Scalars("acc/test")] == pytest.approx(
        [row["test_acc"] for row in record.metrics]
    )
    batches, _ = read_json_lines(record.path / "batches.jsonl")
    assert [e.step for e in events.Scalars("loss/train_batch")] == [r["step"] for r in batches]
    assert {f"per_class_acc/{c}" for c in record.summary["classes"]} <= set(tags)
    assert "_hparams_/experiment" in events.PluginTagToContent("hparams")
    assert events.Scalars("hparam/test_acc")[0].value == pytest.approx(
        record.summary["final"]["test_acc"]
    )

    pictures = accumulator(out / dehaze)
    assert any(tag.startswith("samples/") for tag in pictures.Tags()["images"])
    assert "psnr/test" in pictures.Tags()["scalars"]

    main(["tensorboard", classify, "--out", str(out), "--runs-dir", str(runs)])
    again = accumulator(out / classify)
    assert len(again.Scalars("acc/test")) == 3  # exported twice, drawn once


def test_batch_progress_is_recorded_and_a_resume_drops_the_rows_it_retrains(tmp_path):
    from test_trainer import tiny

    runs = tmp_path / "runs"
    run_id = train(tiny(epochs=2), runs)
    path = RunStore(runs).resolve(run_id) / "batches.jsonl"
    rows, problem = read_json_lines(path)
    assert problem is None and rows
    assert {r["epoch"] for r in rows} == {1, 2}
    steps = [r["step"] for r in rows]
    assert steps == sorted(steps) and rows[-1]["step"] == 2 * 4  # 4 batches per epoch
    with open(path, "a", encoding="utf-8") as handle:  # as if epoch 3 was cut short
        handle.write(json.dumps({"epoch": 3, "batch": 1, "step": 9, "loss": 9.0}) + "\n")
    Trainer(tiny(epochs=3), runs_dir=runs, resume=run_id).run()
    rows, _ = read_json_lines(path)
    assert [r["loss"] for r in rows if r["epoch"] == 3] != [9.0]
    assert sorted({r["epoch"] for r in rows}) == [1, 2, 3]
    assert len([r for r in rows if r["step"] == 9]) == 1
