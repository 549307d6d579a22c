"""`cnnlab evaluate`: a run scored on its own data or another folder, kept in the run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from use_helpers import dehaze_config, folder_config, train, write_shape_folder

from engine.cli import main
from engine.errors import DatasetError, RunStoreError
from engine.runs import RunStore
from engine.use.evaluate import evaluate_run, list_evaluations
from engine.use.loading import load_run
from engine.use.run_folder import writable_run_dir

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def shape_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    data = write_shape_folder(root / "shapes")
    runs = root / "runs"
    return SimpleNamespace(data=data, runs=runs, run_id=train(folder_config(data), runs))


def final_row(runs, run_id) -> dict:
    return RunStore(runs).get(run_id).metrics[-1]


@pytest.mark.parametrize("own_data", [True, False])
def test_evaluating_the_runs_own_test_split_reproduces_its_final_figures_exactly(
    shape_run, capsys, own_data
):
    flags = [] if own_data else ["--data-root", str(shape_run.data)]
    code = main(
        [
            "evaluate",
            shape_run.run_id,
            "--runs-dir",
            str(shape_run.runs),
            "--checkpoint",
            "last",
            "--json",
            *flags,
        ]
    )
    assert code == 0
    record = json.loads(capsys.readouterr().out)
    final = final_row(shape_run.runs, shape_run.run_id)
    metrics = record["metrics"]
    assert metrics["acc"] == final["test_acc"]
    assert metrics["loss"] == final["test_loss"]
    assert metrics["balanced_acc"] == final["test_balanced_acc"]
    assert metrics["confusion"] == final["confusion"]
    assert metrics["per_class_acc"] == final["per_class_acc"]
    assert record["num_images"] == sum(map(sum, final["confusion"]))
    saved = json.loads(Path(record["file"]).read_text())
    assert saved["metrics"] == metrics and "/evaluations/" in record["file"]


def test_evaluations_are_listed_by_show(shape_run, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    main(["evaluate", shape_run.run_id, "--runs-dir", str(shape_run.runs)])
    capsys.readouterr()
    assert main(["show", shape_run.run_id, "--runs-dir", str(shape_run.runs)]) == 0
    out = capsys.readouterr().out
    assert "evaluation: folder-test" in out and "acc" in out
    entries = list_evaluations(RunStore(shape_run.runs).resolve(shape_run.run_id))
    assert entries and all(not e.get("problem") for e in entries)


def test_a_folder_with_an_unknown_class_is_refused_naming_it(shape_run, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(shape_run.data, other)
    write_shape_folder(other, per_class=4, classes=("hexagon",))
    loaded = load_run(shape_run.run_id, shape_run.runs)
    with pytest.raises(DatasetError, match="hexagon"):
        evaluate_run(loaded, data_root=other)


def test_missing_classes_are_allowed_and_reported(shape_run, tmp_path):
    other = write_shape_folder(tmp_path / "two", per_class=8, classes=("circle", "square"), seed=5)
    loaded = load_run(shape_run.run_id, shape_run.runs)
    record = evaluate_run(loaded, data_root=other, split="all")
    assert record["num_images"] == 16
    assert record["classes_missing"] == ["triangle"]
    assert record["classes_present"] == ["circle", "square"]
    assert record["metrics"]["per_class_acc"][2] is None
    assert sum(record["metrics"]["confusion"][2]) == 0


def test_split_all_scores_every_image(shape_run):
    loaded = load_run(shape_run.run_id, shape_run.runs)
    record = evaluate_run(loaded, data_root=shape_run.data, split="all")
    assert record["num_images"] == 180


def test_writing_commands_only_act_on_runs_inside_the_runs_root(shape_run, tmp_path, capsys):
    copy = tmp_path / "backup" / shape_run.run_id
    shutil.copytree(RunStore(shape_run.runs).resolve(shape_run.run_id), copy)
    before = sorted(copy.rglob("*"))
    code = main(["evaluate", str(copy), "--runs-dir", str(shape_run.runs)])
    assert code == 1
    assert "not a run folder inside the runs folder" in capsys.readouterr().err
    assert sorted(copy.rglob("*")) == before
    with pytest.raises(RunStoreError, match="name a run"):
        writable_run_dir(RunStore(shape_run.runs), "  ")


def test_dehazing_evaluation_reproduces_psnr_and_ssim(tmp_path):
    runs = tmp_path / "runs"
    run_id = train(dehaze_config(), runs)
    record = evaluate_run(load_run(run_id, runs, checkpoint="last"))
    final = final_row(runs, run_id)
    assert record["metrics"]["psnr"] == final["test_psnr"]
    assert record["metrics"]["ssim"] == final["test_ssim"]
