"""`cnnlab export`: ONNX, TorchScript, torch.export and state-dict files that reproduce the
torch model within 1e-4 on a real batch; the hand-written conv exports as nn.Conv2d."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from use_helpers import folder_config, train, write_shape_folder

from engine.cli import main
from engine.ops.layers import MyConv2d
from engine.use.deploy import InferenceModel, torch_equivalent
from engine.use.export import TOLERANCE, export_run, sample_batch
from engine.use.loading import load_run

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    data = write_shape_folder(root / "shapes", per_class=30)
    folder = root / "runs"
    conv = train(folder_config(data, tta="flip"), folder)
    hand = train(
        folder_config(data, model="my_conv", model_options={"widths": [8]}, epochs=2), folder
    )
    return SimpleNamespace(runs=folder, conv=conv, hand=hand)


def torch_outputs(loaded, batch):
    with torch.no_grad():
        return InferenceModel(loaded.model, loaded.preprocessing).eval()(batch)


def test_onnx_round_trip_equals_torch(runs, tmp_path, capsys):
    pytest.importorskip("onnxruntime", reason="needs the export extra: cnnlab[export]")
    import onnxruntime

    code = main(
        [
            "export",
            runs.conv,
            "--format",
            "onnx",
            "--out",
            str(tmp_path / "m.onnx"),
            "--runs-dir",
            str(runs.runs),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "onnxruntime vs torch: max |Δ|" in out and "equal within 0.0001" in out
    loaded = load_run(runs.conv, runs.runs, device="cpu")
    batch, what = sample_batch(loaded)
    assert what.startswith("8 test images")
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    ours = session.run(None, {"images": batch.numpy()})[0]
    assert (torch.from_numpy(ours) - torch_outputs(loaded, batch)).abs().max() <= TOLERANCE
    sidecar = json.loads((tmp_path / "m.onnx.json").read_text())
    assert sidecar["onnx_opset"] == 18 and sidecar["inside_the_graph"]["tta"] == "flip"
    assert sidecar["output"]["classes"] == ["circle", "square", "triangle"]
    assert sidecar["checks"][-1]["passed"] is True


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
@pytest.mark.parametrize("fmt", ["torchscript", "export", "state-dict"])
def test_torch_formats_round_trip_equal_torch(runs, tmp_path, fmt):
    loaded = load_run(runs.conv, runs.runs, device="cpu")
    result = export_run(loaded, fmt, tmp_path / "model")
    batch, _ = sample_batch(loaded)
    expected = torch_outputs(loaded, batch)
    if fmt == "torchscript":
        reloaded = torch.jit.load(str(result.path))
    elif fmt == "export":
        assert result.path.suffix == ".pt2"
        reloaded = torch.export.load(str(result.path)).module()
    else:
        reloaded = None
    if reloaded is not None:
        with torch.no_grad():
            assert (reloaded(batch) - expected).abs().max() <= TOLERANCE
    else:
        state = torch.load(result.path, weights_only=True)
        assert state["preprocessing"]["normalize"] == "dataset"
        assert state["model"].keys() == loaded.model.state_dict().keys()
    assert [check.passed for check in result.checks] == [True]


def test_hand_written_conv_runs_export_as_nn_conv2d_with_an_equality_check(runs, tmp_path):
    loaded = load_run(runs.hand, runs.runs, device="cpu")
    assert any(isinstance(m, MyConv2d) for m in loaded.model.modules())
    result = export_run(loaded, "export", tmp_path / "hand.pt2")
    assert "hand-written conv layer(s) as nn.Conv2d" in result.checks[0].what
    assert all(check.passed for check in result.checks)
    program = torch.export.load(str(result.path)).module()
    batch, _ = sample_batch(loaded)
    assert (program(batch) - torch_outputs(loaded, batch)).abs().max() <= TOLERANCE


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"padding": 1, "stride": 2}, {"dilation": 2, "bias": False}, {"padding": "same"}],
)
def test_torch_equivalent_holds_the_same_weights(kwargs):
    torch.manual_seed(0)
    model = nn.Sequential(MyConv2d(3, 4, 3, **kwargs), nn.ReLU(), MyConv2d(4, 2, 1))
    plain, replaced = torch_equivalent(model)
    assert replaced == 2 and not any(isinstance(m, MyConv2d) for m in plain.modules())
    assert all(isinstance(m, MyConv2d) for m in (model[0], model[2]))  # original untouched
    x = torch.rand(2, 3, 11, 11)
    assert torch.allclose(plain(x), model(x), atol=1e-5)
    assert plain.state_dict().keys() == model.state_dict().keys()


def test_a_missing_onnxruntime_is_said_not_hidden(runs, tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_onnxruntime(name, *args, **kwargs):
        if name == "onnxruntime":
            raise ImportError("no onnxruntime")
        return real_import(name, *args, **kwargs)

    pytest.importorskip("onnxscript", reason="the ONNX exporter needs the export extra")
    monkeypatch.setattr(builtins, "__import__", no_onnxruntime)
    result = export_run(load_run(runs.hand, runs.runs, device="cpu"), "onnx", tmp_path / "h.onnx")
    assert result.checks[-1].passed is None
    assert "pip install 'cnnlab[export]'" in result.checks[-1].text()
    assert result.checks[0].passed  # the nn.Conv2d equivalence is still checked
