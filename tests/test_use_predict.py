"""`cnnlab predict`: a trained run on image files, with exactly the run's preprocessing."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from PIL import Image
from use_helpers import dehaze_config, folder_config, one_torch_thread, train, write_shape_folder

from engine.cli import main
from engine.runs import RunStore
from engine.trainer import TrainConfig
from engine.trainer.checkpoint import LAST, load_checkpoint, save_checkpoint
from engine.trainer.setup import load_data
from engine.use.loading import load_run
from engine.use.predict import predict

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def shape_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    data = write_shape_folder(root / "shapes")
    runs = root / "runs"
    return SimpleNamespace(data=data, runs=runs, run_id=train(folder_config(data), runs))


@pytest.fixture(scope="module")
def haze_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("haze") / "runs"
    return SimpleNamespace(runs=runs, run_id=train(dehaze_config(), runs))


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_predict_on_the_runs_own_test_images_agrees_with_its_confusion_matrix(shape_run, capsys):
    record = RunStore(shape_run.runs).get(shape_run.run_id)
    bundle = load_data(TrainConfig.from_dict(record.config))
    files = [shape_run.data / name for name in bundle.test_names]
    code, out, _ = run_cli(
        capsys,
        "predict",
        shape_run.run_id,
        *files,
        "--runs-dir",
        shape_run.runs,
        "--checkpoint",
        "last",
        "--top-k",
        "1",
        "--json",
    )
    assert code == 0
    result = json.loads(out)
    classes = record.summary["classes"]
    confusion = [[0] * len(classes) for _ in classes]
    for item in result["predictions"]:
        true = classes.index(Path(item["path"]).parent.name)
        confusion[true][classes.index(item["top"][0]["class"])] += 1
    assert len(result["predictions"]) == len(files)
    assert confusion == record.summary["confusion"]
    assert sum(1 for row in confusion if any(row)) == 3
    assert len({item["top"][0]["class"] for item in result["predictions"]}) > 1  # not constant


def test_top_k_table_and_skipped_inputs_with_reasons(shape_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    folder = tmp_path / "mine"
    folder.mkdir()
    image = Image.open(shape_run.data / "square" / "square001.png")
    image.save(folder / "photo.png")
    (folder / "notes.txt").write_text("not an image")
    data = (shape_run.data / "circle" / "circle000.png").read_bytes()
    (folder / "broken.png").write_bytes(data[: len(data) // 2])
    code, out, _ = run_cli(
        capsys,
        "predict",
        shape_run.run_id,
        folder,
        tmp_path / "missing.jpg",
        "--runs-dir",
        shape_run.runs,
        "--top-k",
        "3",
    )
    assert code == 0
    assert "photo.png" in out and " %" in out
    assert "skipped" in out and "notes.txt: not an image file type (.txt)" in out
    assert "broken.png" in out and "truncated" in out
    assert "missing.jpg: no such file or folder" in out
    loaded = load_run(shape_run.run_id, shape_run.runs)
    result = predict(loaded, [folder / "photo.png"], top_k=3)
    probabilities = [p for _, p in result.predictions[0].top]
    assert probabilities == sorted(probabilities, reverse=True)
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)  # all 3 classes shown


def test_no_usable_input_exits_1(shape_run, tmp_path, capsys):
    (tmp_path / "a.txt").write_text("x")
    code, out, _ = run_cli(
        capsys, "predict", shape_run.run_id, tmp_path / "a.txt", "--runs-dir", shape_run.runs
    )
    assert code == 1 and "no usable image" in out


def test_normalisation_stats_are_recorded_and_recomputed_for_older_runs(shape_run, tmp_path):
    run_dir = RunStore(shape_run.runs).resolve(shape_run.run_id)
    state = load_checkpoint(run_dir / LAST)
    bundle = load_data(TrainConfig.from_dict(RunStore(shape_run.runs).get(run_dir.name).config))
    assert state["normalization"] == {"mean": list(bundle.mean), "std": list(bundle.std)}
    loaded = load_run(run_dir, checkpoint="last")
    assert loaded.preprocessing.stats_source == "checkpoint"
    files = [shape_run.data / "triangle" / "triangle010.png", shape_run.data / "circle"]
    before = predict(loaded, files).to_dict()["predictions"]

    old = tmp_path / "runs" / run_dir.name  # the same run as saved before stats were recorded
    old.mkdir(parents=True)
    for item in run_dir.iterdir():
        if item.is_file():
            (old / item.name).write_bytes(item.read_bytes())
    del state["normalization"]
    save_checkpoint(old / LAST, state)
    old_loaded = load_run(old, checkpoint="last")
    assert old_loaded.preprocessing.stats_source == "recomputed from the training data"
    assert old_loaded.preprocessing.mean == loaded.preprocessing.mean
    assert any("recomputed" in note for note in old_loaded.notes)
    assert predict(old_loaded, files).to_dict()["predictions"] == before


def test_batchnorm_adaptation_is_stated_not_redone(shape_run, tmp_path):
    runs = tmp_path / "runs"
    run_id = train(folder_config(shape_run.data, bn_adapt=True, epochs=1), runs)
    result = predict(load_run(run_id, runs), [shape_run.data / "square" / "square002.png"])
    assert any("BatchNorm" in note and "training statistics" in note for note in result.notes)


def haze_inputs(folder: Path) -> dict[str, tuple[int, int]]:
    """Two hazy-looking pictures of odd sizes (PNG and JPEG), and one already named like an
    output; name → size."""
    folder.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(0)
    sizes = {"street.png": (37, 23), "hill.jpg": (50, 64), "street.dehazed.png": (20, 30)}
    for name, (w, h) in sizes.items():
        pixels = (torch.rand(h, w, 3, generator=generator) * 120 + 100).to(torch.uint8)
        Image.fromarray(pixels.numpy()).save(folder / name)
    return sizes


@pytest.mark.parametrize("scale", ["trained", "native"])
def test_dehazing_writes_images_of_the_inputs_sizes_and_never_overwrites_inputs(
    haze_run, tmp_path, capsys, scale
):
    folder = tmp_path / "photos"
    sizes = haze_inputs(folder)
    before = {name: (folder / name).read_bytes() for name in sizes}
    code, out, _ = run_cli(
        capsys,
        "predict",
        haze_run.run_id,
        folder,
        "--runs-dir",
        haze_run.runs,
        "--out",
        folder,
        "--scale",
        scale,
        "--json",
    )
    assert code == 0
    dehazed = json.loads(out)["dehazed"]
    assert len(dehazed) == 3
    for item in dehazed:
        name = Path(item["source"]).name
        with Image.open(item["output"]) as output:
            assert output.size == sizes[name] == (item["width"], item["height"])
        assert Path(item["output"]).parent == folder
    outputs = {Path(item["output"]).name for item in dehazed}
    assert "street.dehazed.png" not in outputs  # that name is an input
    assert "street-2.dehazed.png" in outputs and "street.dehazed.dehazed.png" in outputs
    assert {name: (folder / name).read_bytes() for name in sizes} == before


def test_dehazing_output_depends_on_the_input(haze_run, tmp_path):
    folder = tmp_path / "in"
    haze_inputs(folder)
    with one_torch_thread():
        result = predict(
            load_run(haze_run.run_id, haze_run.runs),
            [folder / "street.png"],
            out_dir=tmp_path / "out",
        )
    with Image.open(result.dehazed[0].output) as output, Image.open(folder / "street.png") as raw:
        assert output.tobytes() != raw.convert("RGB").tobytes()
