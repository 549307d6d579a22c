"""`cnnlab explain`: misclassified test images with Grad-CAM (Captum), filters, feature maps."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from PIL import Image
from use_helpers import dehaze_config, folder_config, train, write_shape_folder

from engine.cli import main
from engine.models import create_model
from engine.runs import RunStore
from engine.use.explain import explain_run, read_explanation
from engine.use.gradcam import cam_layer, feature_maps, first_conv, grad_cam
from engine.use.loading import load_run

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def shape_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain")
    data = write_shape_folder(root / "shapes")
    runs = root / "runs"
    return SimpleNamespace(data=data, runs=runs, run_id=train(folder_config(data), runs))


def test_grad_cam_maps_have_the_images_size_and_are_not_constant(shape_run):
    loaded = load_run(shape_run.run_id, shape_run.runs)
    x = loaded.preprocessing.inputs(loaded.run_data().test_x[:6])
    layer = cam_layer(loaded.model, x)
    assert layer is not None and layer.name == "features"
    targets = loaded.model(x).argmax(dim=1)
    maps = grad_cam(loaded.model, layer.module, x, targets)
    assert maps.shape == (6, 16, 16)
    assert maps.min() >= 0 and maps.max() <= 1
    for heat in maps:
        assert heat.max() > heat.min()  # a real map, not a constant
    other = grad_cam(loaded.model, layer.module, x, (targets + 1) % 3)
    assert not torch.allclose(maps, other)  # it depends on the class asked about


@pytest.mark.parametrize(
    ("model", "options", "layer"),
    [
        ("residual", {"widths": [8, 16]}, "layers"),
        ("alexnet", {"width": 0.1}, "features"),
        ("mlp", {}, None),
    ],
)
def test_the_cam_layer_is_found_for_every_family(model, options, layer):
    net = create_model(model, num_classes=3, image_size=32, **options).eval()
    found = cam_layer(net, torch.rand(1, 3, 32, 32))
    assert (found.name if found else None) == layer
    if model == "alexnet":  # a plain stack: one block per conv layer
        names = [b.name for b, _ in feature_maps(net, torch.rand(1, 3, 32, 32))]
        assert names[:2] == ["features.0", "features.3"]
    assert (first_conv(net) is None) == (model == "mlp")


def test_explain_shows_the_misclassified_test_images_worst_first(shape_run, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    code = main(
        [
            "explain",
            shape_run.run_id,
            "--runs-dir",
            str(shape_run.runs),
            "--checkpoint",
            "last",
            "--limit",
            "5",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    run_dir = RunStore(shape_run.runs).resolve(shape_run.run_id)
    index = read_explanation(run_dir)
    confusion = RunStore(shape_run.runs).get(shape_run.run_id).summary["confusion"]
    wrong = sum(map(sum, confusion)) - sum(confusion[i][i] for i in range(len(confusion)))
    assert index["errors"] == wrong > 0
    assert sum(row["count"] for row in index["confusions"]) == wrong
    images = index["images"]
    assert len(images) == min(5, wrong)
    confidences = [entry["confidence"] for entry in images]
    assert confidences == sorted(confidences, reverse=True)
    for entry in images:
        assert entry["true"] != entry["predicted"]
        picture = run_dir / entry["picture"]
        with Image.open(picture) as image:
            assert image.width > image.height  # image | Grad-CAM side by side
        assert str(picture) in out.replace("\n", "")
        assert (shape_run.data / entry["name"]).is_file() and entry["file"]
    assert "▀" in out and f"{wrong} of" in out
    assert (run_dir / index["filters"]).is_file() and index["filters_shape"] == [8, 3, 3, 3]
    assert [m["block"] for m in index["feature_maps"]] == ["features.0", "features.1", "features.2"]


def test_explaining_again_replaces_the_earlier_pictures(shape_run):
    loaded = load_run(shape_run.run_id, shape_run.runs)
    explain_run(loaded, limit=4)
    explain_run(loaded, limit=2)
    pictures = sorted((loaded.run_dir / "explain" / "errors").glob("*.png"))
    assert len(pictures) == len(read_explanation(loaded.run_dir)["images"]) <= 2


def test_dehazing_explain_ranks_the_worst_restored_images(tmp_path):
    runs = tmp_path / "runs"
    run_id = train(dehaze_config(), runs)
    index = explain_run(load_run(run_id, runs), limit=3)
    scores = [entry["psnr"] for entry in index["images"]]
    assert len(scores) == 3 and scores == sorted(scores)
    assert index["feature_maps"] and index["filters"]


def test_the_lab_report_shows_the_explanation(shape_run, tmp_path):
    from engine.report import write_report

    record = RunStore(shape_run.runs).get(shape_run.run_id)
    explain_run(load_run(shape_run.run_id, shape_run.runs), limit=3)
    report = write_report([record], tmp_path / "report")
    text = report.read_text(encoding="utf-8")
    assert "Grad-CAM of the predicted class" in text and "learned filters" in text
    figures = [line for line in text.splitlines() if "-errors.png" in line]
    assert figures and (tmp_path / "report" / figures[0].split("(")[-1].rstrip(")")).is_file()
