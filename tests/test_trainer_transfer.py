"""Transfer settings in real Trainer runs: init_from (a run, preset:NAME, torchvision via the
CLI), freeze_epochs, head_lr_mult (kept on resume), lookahead and data-dependent layers."""

from __future__ import annotations

import pytest
import torch

from engine.cli import main
from engine.runs import RunStore
from engine.trainer import TrainConfig
from engine.trainer.loop import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(**changes) -> TrainConfig:
    base = TrainConfig(
        dataset="shapes",
        image_size=16,
        model="conv",
        model_options={"widths": [4, 8]},
        epochs=1,
        batch_size=32,
        device="cpu",
        max_train_batches=2,
    )
    return base.replace(**changes)


def finished(config: TrainConfig, runs, **kwargs) -> Trainer:
    trainer = Trainer(config, runs_dir=runs, **kwargs)
    status = trainer.run()
    assert status == "completed", trainer.error
    return trainer


def weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return torch.load(trainer.run_dir / "last.pt", weights_only=True)["model"]


def test_init_from_a_run_with_a_frozen_backbone_keeps_its_convs(tmp_path):
    runs = tmp_path / "runs"
    source = finished(tiny(), runs)
    tuned = finished(tiny(init_from=source.run_id, freeze_epochs=1, lr=0.05), runs)
    before, after = weights(source), weights(tuned)
    convs = [k for k in before if k.endswith(".weight") and before[k].dim() == 4]
    assert convs and all(torch.equal(before[k], after[k]) for k in convs)  # loaded, frozen
    assert not torch.equal(before["fc.weight"], after["fc.weight"])  # the head trained
    log = (tuned.run_dir / "run.log").read_text()
    assert f"init from run {source.run_id} (last.pt, epoch 1)" in log
    assert "every key loaded (same classes)" in log
    assert "epoch 1: backbone frozen: only the head trains" in log
    assert RunStore(runs).get(tuned.run_id).config["init_from"] == source.run_id


def test_head_lr_multiplier_survives_a_resume(tmp_path):
    runs = tmp_path / "runs"
    run = finished(tiny(head_lr_mult=10.0, scheduler="none", optimizer="nesterov"), runs)
    groups = torch.load(run.run_dir / "last.pt", weights_only=True)["optimizer"]["param_groups"]
    assert [g["lr"] for g in groups] == pytest.approx([1e-3, 1e-2])
    assert all(g["nesterov"] for g in groups)
    resumed = Trainer(tiny(head_lr_mult=10.0, scheduler="none", optimizer="nesterov", epochs=2),
                      runs_dir=runs, resume=run.run_id)  # fmt: skip
    assert resumed.run() == "completed"
    groups = torch.load(run.run_dir / "last.pt", weights_only=True)["optimizer"]["param_groups"]
    assert [g["lr"] for g in groups] == pytest.approx([1e-3, 1e-2])


def test_init_from_a_preset_trains_the_pretraining_once(tmp_path):
    runs = tmp_path / "runs"
    config = TrainConfig(
        dataset="shapes", model="dilated", model_options={"widths": [8, 16]}, image_size=24,
        epochs=1, batch_size=32, device="cpu", max_train_batches=2, seed=5,
        init_from="preset:quick-shapes",
    )  # fmt: skip
    first = finished(config, runs)
    log = (first.run_dir / "run.log").read_text()
    assert "no completed run of preset quick-shapes with seed 5; training it now" in log
    assert "pretraining: epoch 2/2 done" in log and "every key loaded" in log
    pretraining = [
        r for r in RunStore(runs).list_runs() if r.config.get("preset") == "quick-shapes"
    ]
    assert len(pretraining) == 1 and pretraining[0].config["seed"] == 5
    second = finished(config, runs)
    assert f"reusing run {pretraining[0].run_id}" in (second.run_dir / "run.log").read_text()
    assert len(RunStore(runs).list_runs()) == 3  # one pretraining, two fine-tunings
    # building the pretraining does not change the run's own random stream
    assert second.summary["final"]["train_loss"] == pytest.approx(
        first.summary["final"]["train_loss"]
    )


def test_lookahead_and_a_data_dependent_first_layer_in_a_run(tmp_path):
    config = tiny(model="airbench", model_options={"widths": [8, 8, 8]}, lookahead=True,
                  optimizer="nesterov", lr=0.05, epochs=2)  # fmt: skip
    trainer = finished(config, tmp_path / "runs")
    state = torch.load(trainer.run_dir / "last.pt", weights_only=True)
    assert "lookahead" in state
    model_state = state["model"]
    assert torch.equal(
        model_state["groups.0.conv1.weight"], state["lookahead"]["groups.0.conv1.weight"]
    )
    log = (trainer.run_dir / "run.log").read_text()
    assert "airbench: data-dependent layers fitted to the training images" in log


def test_missing_torchvision_weights_fail_the_run_with_how_to_get_them(tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    before = torch.hub.get_dir()
    torch.hub.set_dir(str(hub))
    try:
        code = main([
            "train", "--runs-dir", str(tmp_path / "runs"), "--dataset", "shapes",
            "--image-size", "32", "--model", "resnet18", "--model-opt", "base_width=64",
            "--model-opt", "stem=imagenet", "--init-from", "torchvision:resnet18",
            "--device", "cpu", "--epochs", "1", "--quiet",
        ])  # fmt: skip
    finally:
        torch.hub.set_dir(before)
    assert code == 1
    record = RunStore(tmp_path / "runs").list_runs()[0]
    assert record.status == "failed"
    assert "--download-weights" in record.summary["error"]
    assert str(hub / "checkpoints" / "resnet18-f37072fd.pth") in record.summary["error"]


def test_init_from_is_checked_before_a_run_starts():
    errors = tiny(init_from="torchvision:resnet18").validate()
    assert "fits model resnet18 with options base_width=64 stem=imagenet" in errors["init_from"]
    assert "unknown preset 'nope'" in tiny(init_from="preset:nope").validate()["init_from"]
    assert tiny(freeze_epochs=-1).validate()["freeze_epochs"]
    assert tiny(head_lr_mult=0).validate()["head_lr_mult"]


def test_fourier_style_takes_the_look_of_the_test_images_in_a_run(tmp_path):
    """A run with fourier_style trains on images restyled from the test split: the task's
    style pool is the test images, and a training batch moves toward their brightness."""
    from engine.datasets.registry import load_dataset
    from engine.trainer.setup import build_task

    config = tiny(fourier_style=0.1)
    bundle = load_dataset("shapes", image_size=16)
    dark = bundle.test_x // 8
    task = build_task(config, bundle, dark)
    g = torch.Generator().manual_seed(0)
    styled = task.prepare(bundle.train_x[:64], bundle.train_y[:64], g)[0]
    plain = build_task(tiny(), bundle).prepare(bundle.train_x[:64], bundle.train_y[:64], g)[0]
    assert styled.shape == plain.shape and styled.mean() < plain.mean() - 0.2
    assert finished(config, tmp_path / "runs").status == "completed"
    assert tiny(dataset="haze_synth", model="dehaze_residual", fourier_style=0.1).validate()


def test_cli_run_from_other_classes_prints_what_was_loaded_and_reinitialised(tmp_path, capsys):
    """`cnnlab train --init-from RUN` on a data set with other classes: the body is loaded,
    the head re-initialised, and the report is on the terminal and in the run's log."""
    from test_datasets_helpers import make_class_folders

    runs = tmp_path / "runs"
    source = finished(tiny(), runs)
    root = make_class_folders(tmp_path / "pets", {"cat": 6, "dog": 6})
    code = main([
        "train", "--runs-dir", str(runs), "--dataset", "folder", "--data-root", str(root),
        "--image-size", "16", "--model", "conv", "--model-opt", "widths=4,8",
        "--init-from", source.run_id, "--device", "cpu", "--epochs", "1",
    ])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert f"init from run {source.run_id} (last.pt, epoch 1)" in out
    assert "re-initialised fc.weight, fc.bias (classes differ: source 3 (circle, square, " in out
    assert "this run 2 (cat, dog))" in out
    tuned = next(r for r in RunStore(runs).list_runs() if r.run_id != source.run_id)
    log = (runs / tuned.run_id / "run.log").read_text()
    assert "re-initialised fc.weight, fc.bias" in log
    before = weights(source)
    after = torch.load(runs / tuned.run_id / "last.pt", weights_only=True)["model"]
    assert after["fc.weight"].shape == (2, before["fc.weight"].shape[1])
