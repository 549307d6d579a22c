"""The airbench-style pieces behind `cifar10-fast`: whitening conv, scaled-bias BatchNorm,
lookahead EMA and flip + translate TTA (tiny tensors, seconds)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.models import create_model
from engine.models.airbench import BIAS_GAIN, ScaledBiasNorm, whitening_filters
from engine.recipes import tta_logits
from engine.recipes.lookahead import Lookahead

pytestmark = pytest.mark.usefixtures("one_thread")


def correlated_images(n: int = 256) -> torch.Tensor:
    """Smooth images (neighbouring pixels correlate) whose channels share one component."""
    g = torch.Generator().manual_seed(0)
    shared = F.avg_pool2d(torch.rand(n, 1, 12, 12, generator=g), 3, stride=1, padding=1)
    return shared + 0.3 * F.avg_pool2d(torch.rand(n, 3, 12, 12, generator=g), 3, 1, 1)


def test_whitening_filters_decorrelate_patches():
    images = correlated_images()
    filters = whitening_filters(images, kernel=2, eps=1e-6)
    assert filters.shape == (24, 3, 2, 2)
    assert torch.allclose(filters[12:], -filters[:12])  # each filter and its negative
    out = F.conv2d(images, filters[:12]).permute(0, 2, 3, 1).reshape(-1, 12).double()
    covariance = out.T @ out / out.shape[0]
    assert torch.allclose(covariance, torch.eye(12, dtype=torch.float64), atol=2e-2)


def test_fit_to_data_sets_the_whitening_layer_of_the_model():
    model = create_model("airbench", num_classes=10, image_size=12, widths=[8, 8, 8])
    images = correlated_images(64)
    model.fit_to_data(images)
    assert torch.allclose(model.whiten.weight, whitening_filters(images))
    assert "whiten.weight" in model.state_dict()  # saved and restored with the weights
    assert not any(name == "whiten.weight" for name, _ in model.named_parameters())
    assert model(images[:4]).shape == (4, 10)


def test_scaled_bias_takes_a_64x_sgd_step():
    norm = ScaledBiasNorm(2)
    plain = nn.BatchNorm2d(2, affine=True)
    x = torch.randn(8, 2, 3, 3)
    for module in (norm, plain):
        optimizer = torch.optim.SGD(module.parameters(), lr=0.01)
        module(x).sum().backward()
        optimizer.step()
    effective = norm.bias_param.detach() * BIAS_GAIN
    assert torch.allclose(effective, plain.bias.detach() * BIAS_GAIN**2)  # 64× plain's step


def test_lookahead_averages_late_weights_and_ends_on_the_average():
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    ahead = Lookahead(model, total_steps=10, every=5)
    assert ahead.decay(0) == 0 and ahead.decay(10) == pytest.approx(0.95**5)
    with torch.no_grad():
        model.weight.fill_(1.0)
    assert not ahead.step(model, 4)  # only every 5th step
    assert ahead.step(model, 5)
    decay = 0.95**5 * 0.5**3
    assert model.weight.item() == pytest.approx(1 - decay)  # moved toward the weights
    with torch.no_grad():
        model.weight.fill_(3.0)
    ahead.finish(model)
    assert model.weight.item() == pytest.approx(1 - decay)  # the average, not the last


def test_flip_translate_tta_weights_the_views():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 6 * 6, 4))
    x = torch.randn(2, 3, 6, 6)
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    views = [x, padded[..., 2:8, 2:8], padded[..., :6, :6]]

    def mirror(v):
        return (model(v).softmax(1) + model(v.flip(-1)).softmax(1)) / 2

    expected = mirror(views[0]) / 2 + (mirror(views[1]) + mirror(views[2])) / 4
    assert torch.allclose(tta_logits(model, x, "flip_translate").exp(), expected, atol=1e-6)


def test_cifar10_fast_preset_trains_on_the_cpu(tmp_path):
    """The airbench recipe through the Trainer (synthetic data, two short epochs)."""
    from engine.presets import get_preset
    from engine.trainer.loop import Trainer

    config = get_preset("cifar10-fast").to_config(
        dataset="shapes", data_root=None, epochs=2, batch_size=64, max_train_batches=3,
        device="cpu", model_options={"widths": [8, 16, 16]},
    )  # fmt: skip
    trainer = Trainer(config, runs_dir=tmp_path / "runs")
    assert trainer.run() == "completed", trainer.error
    final = trainer.summary["final"]
    assert 0 <= final["test_acc"] <= 1 and final["train_loss"] == final["train_loss"]
