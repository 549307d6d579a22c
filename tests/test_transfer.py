"""Transfer learning (engine.transfer): weights from another run or torchvision's hub cache,
the head re-initialised when classes differ, refusals, and the fine-tuning helpers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.models import create_model
from engine.trainer import TrainConfig
from engine.trainer.loop import Trainer
from engine.transfer import (
    TransferError,
    cache_file,
    find_weights,
    head_keys,
    initialise,
    load_weights,
    parameter_groups,
    resolve_source,
    set_backbone_frozen,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # one torch thread: see conftest

SHAPES = ["circle", "square", "triangle"]  # the classes of the built-in `shapes` set


def source_run(tmp_path, **changes) -> Trainer:
    """A finished one-epoch run on `shapes` (conv 4/8), for weights to come from."""
    config = TrainConfig(
        dataset="shapes",
        image_size=16,
        model="conv",
        model_options={"widths": [4, 8]},
        epochs=1,
        batch_size=32,
        device="cpu",
        max_train_batches=2,
    ).replace(**changes)
    trainer = Trainer(config, runs_dir=tmp_path / "runs")
    assert trainer.run() == "completed"
    return trainer


def conv_model(num_classes: int, widths=(4, 8)) -> nn.Module:
    torch.manual_seed(123)
    return create_model("conv", num_classes=num_classes, image_size=16, widths=list(widths))


def saved_weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return torch.load(trainer.run_dir / "last.pt", weights_only=True)["model"]


def test_a_run_with_other_classes_loads_the_body_and_reinitialises_the_head(tmp_path):
    trainer = source_run(tmp_path)
    model = conv_model(num_classes=2)
    fresh_head = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("fc.")}
    report = initialise(model, trainer.run_id, classes=["cat", "dog"], runs_dir=tmp_path / "runs")
    source = saved_weights(trainer)
    state = model.state_dict()
    assert report.reinitialised == ("fc.weight", "fc.bias")
    assert set(report.ignored) == {"fc.weight", "fc.bias"}
    for key, value in state.items():
        if key.startswith("fc."):
            assert torch.equal(value, fresh_head[key])  # kept its fresh initialisation
        else:
            assert torch.equal(value, source[key]), key
    text = "\n".join(report.lines())
    assert trainer.run_id in text and "last.pt, epoch 1" in text
    assert "re-initialised fc.weight, fc.bias" in text
    assert "classes differ: source 3 (circle, square, triangle), this run 2 (cat, dog)" in text


def test_a_run_with_the_same_classes_loads_every_key(tmp_path):
    trainer = source_run(tmp_path)
    model = conv_model(num_classes=3)
    report = initialise(model, f"{trainer.run_id}:last", classes=SHAPES, runs_dir=tmp_path / "runs")
    source = saved_weights(trainer)
    assert report.reinitialised == () and report.ignored == ()
    assert "every key loaded (same classes)" in report.lines()[1]
    for key, value in model.state_dict().items():
        assert torch.equal(value, source[key]), key
    values = [v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")]
    assert report.loaded_parameters == sum(v.numel() for v in values)  # weights + BN statistics


def test_same_number_but_other_class_names_still_reinitialise_the_head(tmp_path):
    source_run(tmp_path)
    model = conv_model(num_classes=3)
    report = initialise(
        model, "latest", classes=["bus", "car", "truck"], runs_dir=tmp_path / "runs"
    )
    assert report.reinitialised == ("fc.weight", "fc.bias")


def test_best_checkpoint_and_a_checkpoint_file_path(tmp_path):
    trainer = source_run(tmp_path)
    best = resolve_source(f"{trainer.run_id}:best", tmp_path / "runs")
    assert "best.pt" in best.label and best.classes == SHAPES and best.model == "conv"
    bare = tmp_path / "weights.pt"
    torch.save(saved_weights(trainer), bare)
    model = conv_model(num_classes=3)
    report = initialise(model, str(bare), classes=SHAPES)  # classes unknown, shapes fit
    assert report.reinitialised == () and "head shapes match" in report.reason


def test_shape_mismatch_is_refused_and_the_model_is_untouched(tmp_path):
    trainer = source_run(tmp_path)
    model = conv_model(num_classes=2, widths=(8, 16))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(
        TransferError, match=r"shapes differ for .*source 4×3×3×3, this model 8×3×3×3"
    ):
        initialise(model, trainer.run_id, classes=["a", "b"], runs_dir=tmp_path / "runs")
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_another_architecture_and_missing_keys_are_refused(tmp_path):
    trainer = source_run(tmp_path)
    other = create_model("residual", num_classes=2, image_size=16, widths=[4, 8])
    with pytest.raises(TransferError, match="it holds conv weights"):
        initialise(other, trainer.run_id, classes=["a", "b"], runs_dir=tmp_path / "runs")
    state = saved_weights(trainer)
    del state["features.0.0.weight"]  # a body key, not the head
    model = conv_model(num_classes=3)
    with pytest.raises(TransferError, match=r"missing from the source: features\.0\.0\.weight"):
        load_weights(model, state, source="x", source_classes=SHAPES, target_classes=SHAPES)
    with pytest.raises(TransferError, match="no run 'nope'"):
        initialise(model, "nope", classes=SHAPES, runs_dir=tmp_path / "runs")


def test_head_keys_find_the_last_linear_layer():
    assert head_keys(conv_model(3)) == ("fc.weight", "fc.bias")
    mlp = create_model("mlp", num_classes=3, image_size=8)
    assert head_keys(mlp) == tuple(k for k in mlp.state_dict() if k.startswith("net."))[-2:]


# ---------------------------------------------------------------- torchvision hub cache


@pytest.fixture
def hub_dir(tmp_path):
    before = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield tmp_path / "hub"
    torch.hub.set_dir(before)


def test_missing_torchvision_weights_say_how_to_download_them(hub_dir):
    expected = hub_dir / "checkpoints" / "resnet18-f37072fd.pth"
    assert cache_file("resnet18") == expected
    with pytest.raises(TransferError) as info:
        find_weights("resnet18")
    message = str(info.value)
    assert str(expected) in message and "--download-weights" in message
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in message
    with pytest.raises(TransferError, match="offered: torchvision:alexnet, torchvision:resnet18"):
        resolve_source("torchvision:vgg16")


def test_torchvision_resnet18_from_the_cache_computes_what_torchvision_computes(hub_dir):
    """The test builds the cache file itself (no internet): torchvision's own resnet18 with
    random weights, saved where torch hub keeps ImageNet weights."""
    import torchvision

    torch.manual_seed(0)
    reference = torchvision.models.resnet18(weights=None).eval()
    for m in reference.modules():  # non-trivial BN statistics, so a wrong map would show
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    path = cache_file("resnet18")
    path.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), path)
    categories = torchvision.models.ResNet18_Weights.DEFAULT.meta["categories"]
    ours = create_model(
        "resnet18", num_classes=1000, image_size=64, base_width=64, stem="imagenet"
    ).eval()
    report = initialise(ours, "torchvision:resnet18", classes=categories)
    assert report.reinitialised == () and str(path) in report.source
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(ours(x), reference(x), atol=1e-4)
    three = create_model("resnet18", num_classes=3, image_size=64, base_width=64, stem="imagenet")
    report = initialise(three, "torchvision:resnet18", classes=["bus", "car", "truck"])
    assert report.reinitialised == ("fc.weight", "fc.bias")
    assert "classes differ: source 1000 (tench, goldfish" in report.reason
    cifar_stem = create_model("resnet18", num_classes=3, image_size=32, base_width=64)
    with pytest.raises(
        TransferError, match=r"stem\.0\.weight \(source 64×3×7×7, this model 64×3×3×3\)"
    ):
        initialise(cifar_stem, "torchvision:resnet18", classes=["bus", "car", "truck"])


# ---------------------------------------------------------------- fine-tuning helpers


def test_frozen_backbone_trains_only_the_head():
    model = conv_model(3)
    assert set_backbone_frozen(model, True) > 0
    optimizer = torch.optim.SGD(parameter_groups(model, 0.1), lr=0.1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loss = nn.functional.cross_entropy(model(torch.randn(4, 3, 16, 16)), torch.tensor([0, 1, 2, 0]))
    loss.backward()
    optimizer.step()
    for key, value in model.state_dict().items():
        changed = not torch.equal(value, before[key])
        if key.startswith("fc."):
            assert changed, key
        elif "running" not in key and "num_batches" not in key:
            assert not changed, key  # weights frozen (BN statistics may follow the data)
    set_backbone_frozen(model, False)
    assert all(p.requires_grad for p in model.parameters())


def test_head_lr_multiplier_makes_a_second_group():
    model = conv_model(3)
    assert len(parameter_groups(model, 1e-3)) == 1
    body, head = parameter_groups(model, 1e-3, head_lr_mult=10)
    assert body["lr"] == 1e-3 and head["lr"] == pytest.approx(1e-2)
    assert {id(p) for p in head["params"]} == {id(model.fc.weight), id(model.fc.bias)}
    count = len(body["params"]) + len(head["params"])
    assert count == len(list(model.parameters()))


# ---------------------------------------------------------------- preset:NAME pretraining


def test_preset_pretraining_is_trained_once_then_reused(tmp_path):
    from engine.transfer.pretrain import ensure_pretraining

    runs = tmp_path / "runs"
    trained, lines = [], []

    def train(config):
        trainer = Trainer(config.replace(device="cpu"), runs_dir=runs)
        trained.append(trainer.run_id)
        return trainer.run(), trainer.run_id

    first = ensure_pretraining(
        "preset:quick-shapes", seed=3, data_root=None, runs_dir=runs, train=train, log=lines.append
    )
    assert trained == [first] and "training it now" in lines[0]
    again = ensure_pretraining(
        "preset:quick-shapes", seed=3, data_root=None, runs_dir=runs, train=train, log=lines.append
    )
    assert again == first and trained == [first] and "reusing run" in lines[1]
    other_seed = ensure_pretraining(
        "preset:quick-shapes", seed=4, data_root=None, runs_dir=runs, train=train
    )
    assert other_seed != first and len(trained) == 2  # each seed pretrains with its own seed
    model = create_model("dilated", num_classes=2, image_size=24, widths=[8, 16])
    report = initialise(model, first, classes=["a", "b"], runs_dir=runs)
    assert report.reinitialised == ("fc.weight", "fc.bias")
    assert ensure_pretraining("RUN", seed=0, data_root=None, runs_dir=runs, train=train) == "RUN"


def test_preset_pretraining_finds_its_data_beside_the_recipes(tmp_path, vehicles_root):
    from engine.transfer.pretrain import pretraining_config

    cifar = vehicles_root.parent / "cifar10"
    if not cifar.is_dir():
        pytest.skip(f"no CIFAR-10 beside {vehicles_root}")
    config = pretraining_config("cifar10-fast", 1, str(vehicles_root))
    assert config.data_root == str(vehicles_root.parent) and config.seed == 1
    with pytest.raises(
        TransferError, match="train it yourself: cnnlab train --preset cifar10-fast"
    ):
        pretraining_config("cifar10-fast", 1, str(tmp_path))
    with pytest.raises(TransferError, match="unknown preset 'nope'"):
        pretraining_config("nope", 0, None)


def test_weights_are_downloaded_only_with_consent(hub_dir, monkeypatch):
    """Without consent a missing file is an error and nothing is fetched; with it, torch hub's
    download is called once (hash-checked, with progress). The network is the faked edge:
    this machine is offline, so the fake writes the file a download would have written."""
    import torchvision

    from engine.transfer.hub import load_hub_state, weights_url

    calls = []

    def fake_download(url, progress, check_hash):
        calls.append((url, progress, check_hash))
        path = cache_file("resnet18")
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_download)
    with pytest.raises(TransferError, match="not in the torch hub cache"):
        load_hub_state("resnet18")
    assert calls == [] and not cache_file("resnet18").exists()
    state, path = load_hub_state("resnet18", download=True)
    assert calls == [(weights_url("resnet18"), True, True)] and path == cache_file("resnet18")
    assert "stem.0.weight" in state and "layers.3.1.left.2.weight" in state
    load_hub_state("resnet18", download=True)  # found in the cache now: no second download
    assert len(calls) == 1


def test_preset_pretraining_made_before_a_setting_existed_is_still_found(tmp_path):
    """A run folder written before a setting was added lacks its key: read as the default."""
    import json

    from engine.transfer.pretrain import find_pretraining_run

    trainer = source_run(tmp_path)
    path = trainer.run_dir / "config.json"
    config = json.loads(path.read_text())
    del config["crops_per_image"]
    path.write_text(json.dumps(config))
    assert find_pretraining_run(tmp_path / "runs", trainer.config) == trainer.run_id
    assert find_pretraining_run(tmp_path / "runs", trainer.config.replace(seed=9)) is None
