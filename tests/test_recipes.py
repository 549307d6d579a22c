"""Recipe helpers (BN re-estimation, TTA, relighting, crops, mixing), their config fields,
and the recipe presets — all on tiny synthetic tensors, in seconds."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import ConfigError
from engine.recipes import (
    adapt_batchnorm,
    batchnorm_adapted,
    has_batchnorm,
    mix_batch,
    mixed_loss,
    tta_logits,
    tta_outputs,
)
from engine.recipes.crops import random_crop_pairs
from engine.recipes.lighting import relight
from engine.trainer.config import TrainConfig
from engine.trainer.epoch import Parts
from engine.trainer.evaluation import evaluate
from engine.trainer.loop import Trainer
from engine.trainer.tasks import ClassifyTask

pytestmark = pytest.mark.usefixtures("one_thread")  # one torch thread: see conftest


def conv_bn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2)
    )


# ---------------------------------------------------------------- BatchNorm re-estimation


def test_adapt_batchnorm_sets_the_statistics_of_the_new_images():
    model = conv_bn()
    model(torch.randn(8, 3, 6, 6))  # materialise the lazy layer
    shifted = torch.randn(32, 3, 6, 6) * 3 + 5
    assert adapt_batchnorm(model, shifted, batch_size=32) == 1
    features = model[0](shifted)
    bn = model[1]
    assert torch.allclose(bn.running_mean, features.mean(dim=(0, 2, 3)), atol=1e-4)
    assert torch.allclose(bn.running_var, features.var(dim=(0, 2, 3)), rtol=1e-3)
    assert not model.training and not bn.training
    assert bn.momentum == 0.1  # restored after the cumulative average


def test_batchnorm_adapted_restores_the_training_statistics():
    model = conv_bn()
    model(torch.randn(8, 3, 6, 6))
    before = model[1].running_mean.clone()
    with batchnorm_adapted(model, torch.randn(16, 3, 6, 6) + 4) as count:
        assert count == 1
        assert not torch.allclose(model[1].running_mean, before)
    assert torch.equal(model[1].running_mean, before)


def test_models_without_batchnorm_are_left_alone():
    model = nn.Sequential(nn.Conv2d(3, 2, 1))
    assert not has_batchnorm(model)
    assert adapt_batchnorm(model, torch.randn(4, 3, 5, 5)) == 0


# ---------------------------------------------------------------- test-time augmentation


def test_flip_tta_averages_probabilities_of_the_image_and_its_mirror():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 3))
    x = torch.randn(5, 3, 4, 4)
    assert torch.equal(tta_logits(model, x, "none"), model(x))
    expected = (model(x).softmax(1) + model(x.flip(-1)).softmax(1)) / 2
    assert torch.allclose(tta_logits(model, x, "flip").exp(), expected, atol=1e-6)
    with pytest.raises(ConfigError):
        tta_logits(model, x, "rotate")


def test_flip_tta_for_images_unmirrors_the_mirrored_output():
    shift_right = nn.ConstantPad2d((1, -1, 0, 0), 0.0)  # not mirror-symmetric
    x = torch.rand(2, 3, 4, 4)
    expected = (shift_right(x) + shift_right(x.flip(-1)).flip(-1)) / 2
    assert torch.allclose(tta_outputs(shift_right, x, "flip"), expected)


# ---------------------------------------------------------------- relighting, crops, mixing


def test_relight_darkens_keeps_range_and_is_seeded():
    x = torch.rand(64, 3, 8, 8) * 0.6 + 0.2
    a = relight(x, "night", torch.Generator().manual_seed(1), p=1.0)
    b = relight(x, "night", torch.Generator().manual_seed(1), p=1.0)
    assert torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1
    assert a.mean() < 0.6 * x.mean()  # gamma ≥ 1.5 and dimming: clearly darker
    assert torch.equal(relight(x, "night", torch.Generator().manual_seed(1), p=0.0), x)
    assert relight(x, "none") is x


def test_headlights_darken_turn_blue_and_add_a_mirrored_pair_of_lights():
    x = torch.full((16, 3, 32, 32), 0.5)
    out = relight(x, "headlights", torch.Generator().manual_seed(2), p=1.0)
    assert out.min() >= 0 and out.max() <= 1
    top, bottom = out[:, :, :12], out[:, :, 16:]  # lights sit in the lower half
    assert top.mean() < 0.35 and (top[:, 2] >= top[:, 0]).all()  # dark and blue-leaning
    assert (bottom.amax(dim=(1, 2, 3)) > 0.9).all()  # a near-white light in every image
    left, right = bottom[..., :16].amax(dim=(1, 2, 3)), bottom[..., 16:].amax(dim=(1, 2, 3))
    assert (left > 0.8).all() and (right > 0.8).all()  # one light on each side


def test_random_crop_pairs_cuts_the_same_window_from_both():
    x = torch.arange(4 * 3 * 10 * 10).reshape(4, 3, 10, 10)
    hazy, clear = random_crop_pairs(x, x + 7, 4, torch.Generator().manual_seed(0))
    assert hazy.shape == (4, 3, 4, 4)
    assert torch.equal(clear, hazy + 7)
    assert torch.equal(hazy[:, :, 0, 1] - hazy[:, :, 0, 0], torch.ones(4, 3, dtype=x.dtype))
    with pytest.raises(ConfigError):
        random_crop_pairs(x, x, 11)


@pytest.mark.parametrize("mode", ["mixup", "cutmix"])
def test_mix_batch_blends_with_a_partner_and_reports_its_share(mode):
    x = torch.zeros(8, 1, 10, 10)
    x[:4] = 1.0
    y = torch.tensor([1, 1, 1, 1, 0, 0, 0, 0])
    mixed, partner, lam = mix_batch(x, y, 1.0, torch.Generator().manual_seed(3), mode)
    assert 0 <= lam <= 1
    # Each image's share of "ones" is λ·own + (1 − λ)·partner's (by value or by area).
    share = mixed.mean(dim=(1, 2, 3))
    own, other = x.mean(dim=(1, 2, 3)), (partner == 1).float()
    assert torch.allclose(share, lam * own + (1 - lam) * other, atol=1e-6)
    loss = mixed_loss(nn.functional.cross_entropy, torch.zeros(8, 2), y, partner, lam)
    assert math.isclose(loss.item(), math.log(2), rel_tol=1e-6)


# ---------------------------------------------------------------- config fields, trainer


def test_new_fields_are_validated():
    base = TrainConfig(dataset="shapes")
    assert base.replace(tta="flip", bn_adapt=True, lighting="night").validate() == {}
    errors = base.replace(tta="spin", lighting="dusk", bn_adapt="yes").validate()
    assert set(errors) == {"tta", "lighting", "bn_adapt"}
    assert "dehazing only" in base.replace(train_crop=16).validate()["train_crop"]
    haze = TrainConfig(dataset="haze_synth", model="dehaze_conv", image_size=32)
    assert haze.replace(train_crop=16).validate() == {}
    assert "image size" in haze.replace(train_crop=48).validate()["train_crop"]


def _parts(model: nn.Module, **changes) -> Parts:
    task = ClassifyTask(2, "none", "none", None, None)
    return Parts(
        model=model,
        task=task,
        optimizer=None,
        scheduler=None,
        scaler=torch.amp.GradScaler("cpu", enabled=False),
        device=torch.device("cpu"),
        amp_dtype=None,
        batch_size=16,
        batches_per_epoch=1,
        shuffle_generator=torch.Generator(),
        augment_generator=torch.Generator(),
        **changes,
    )


def test_evaluate_with_bn_adapt_scores_adapted_but_keeps_training_statistics():
    model = conv_bn()
    model(torch.randn(8, 3, 6, 6))
    x = (torch.rand(32, 3, 6, 6) * 255).to(torch.uint8)
    y = torch.randint(0, 2, (32,))
    before = model[1].running_mean.clone()
    plain = evaluate(_parts(model), x, y, lambda: False)
    adapted = evaluate(_parts(model, bn_adapt=True), x, y, lambda: False)
    assert torch.equal(model[1].running_mean, before)
    assert adapted["loss"] != pytest.approx(plain["loss"])
    adapt_batchnorm(model, x.float() / 255, batch_size=16)
    assert evaluate(_parts(model), x, y, lambda: False)["loss"] == pytest.approx(adapted["loss"])


def test_trainer_crops_dehazing_batches_and_scores_whole_images(tmp_path):
    config = TrainConfig(
        dataset="haze_synth",
        model="dehaze_conv",
        model_options={"layers": 2, "width": 4},
        image_size=24,
        train_crop=12,
        tta="flip",
        epochs=1,
        batch_size=8,
        max_train_batches=2,
        device="cpu",
    )
    seen: list[tuple[int, ...]] = []
    trainer = Trainer(config, runs_dir=tmp_path)
    with RecordConvInputs(seen):
        assert trainer.run() == "completed"
    assert (8, 3, 12, 12) in seen  # training batches were cropped
    assert (8, 3, 24, 24) in seen  # evaluation saw whole images
    assert trainer.summary["final"]["test_psnr"] > 0


def test_crops_per_image_draws_each_pair_k_times_per_epoch(tmp_path):
    """k crops per pair: the epoch has the steps of k × the training pairs, every pair is
    drawn k times (one seeded permutation per pass), and whole images refuse it."""
    from engine.trainer.epoch import _order, train_batches

    order = _order(10, 30, torch.Generator().manual_seed(0))
    assert torch.equal(torch.bincount(order, minlength=10), torch.full((10,), 3))
    assert not torch.equal(order[:10], order[10:20])  # each pass its own permutation
    assert len(_order(10, 8, torch.Generator().manual_seed(0))) == 10  # as before: one

    counts = {}
    for k in (1, 3):
        config = TrainConfig(
            dataset="haze_synth",
            model="dehaze_conv",
            model_options={"layers": 2, "width": 4},
            image_size=24,
            train_crop=12,
            crops_per_image=k,
            epochs=1,
            batch_size=8,
            device="cpu",
        )
        trainer = Trainer(config, runs_dir=tmp_path / str(k))
        assert trainer.run() == "completed"
        state = torch.load(trainer.run_dir / "last.pt", weights_only=True)
        counts[k] = state["scheduler"]["last_epoch"]  # optimiser steps taken
    assert counts[1] == train_batches(200, 8, None)
    assert counts[3] == train_batches(600, 8, None)
    whole = TrainConfig(dataset="haze_synth", model="dehaze_conv", crops_per_image=3)
    assert "train_crop" in whole.validate()["crops_per_image"]


class RecordConvInputs:
    """Record the input shape of every Conv2d on RGB input while active."""

    def __init__(self, seen: list):
        self.seen = seen

    def __enter__(self):
        def hook(module, inputs):
            if module.in_channels == 3:
                self.seen.append(tuple(inputs[0].shape))

        self.handle = nn.modules.module.register_module_forward_pre_hook(
            lambda m, i: hook(m, i) if isinstance(m, nn.Conv2d) else None
        )
        return self

    def __exit__(self, *exc):
        self.handle.remove()


# ---------------------------------------------------------------- recipe presets


RECIPES = ("vehicles-best", "dehaze-best", "cifar10-fast")


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_presets_validate_and_train_from_scratch(name):
    from engine.presets import get_preset

    preset = get_preset(name)
    config = preset.to_config()
    assert config.validate() == {}
    assert config.preset == name
    assert "weights" not in config.model_options  # nothing downloaded: from scratch


def test_recipes_that_look_at_test_images_say_so():
    from engine.presets import PRESETS

    for preset in PRESETS.values():
        if preset.overrides.get("bn_adapt"):
            assert "BN re-estimated" in preset.description


def test_dehaze_recipe_is_scored_at_256_and_trains_on_crops():
    from engine.presets import get_preset

    config = get_preset("dehaze-best").to_config()
    assert config.image_size == 256
    assert config.train_crop is not None and config.train_crop < 256


def test_summary_reports_the_last_epoch_not_the_best(tmp_path):
    config = TrainConfig(
        dataset="shapes",
        image_size=16,
        model="conv",
        model_options={"widths": [4, 8]},
        epochs=3,
        batch_size=32,
        lr=0.05,  # large on purpose: test accuracy moves between epochs
        tta="flip",
        bn_adapt=True,
        max_train_batches=2,
        device="cpu",
    )
    trainer = Trainer(config, runs_dir=tmp_path)
    rows = []
    trainer.subscribe(lambda e: rows.append(e.metrics) if hasattr(e, "metrics") else None)
    assert trainer.run() == "completed"
    assert trainer.summary["final"]["test_acc"] == rows[-1]["test_acc"]
    assert trainer.summary["best"]["epoch"] in (1, 2, 3)


def test_balanced_accuracy_is_the_mean_of_per_class_accuracies():
    task = ClassifyTask(3, "none", "none", None, None)
    acc = task.new_accumulator()
    logits = torch.eye(3)[[0, 0, 0, 1, 2, 2]]  # predicted 0,0,0,1,2,2
    acc.add(logits, torch.tensor([0, 0, 0, 0, 1, 2]))  # class 0: 3/4, class 1: 0, class 2: 1
    result = acc.result()
    assert result["acc"] == pytest.approx(4 / 6)
    assert result["balanced_acc"] == pytest.approx((0.75 + 0 + 1) / 3)


# ---------------------------------------------------------------- unsupervised selection scores


def test_class_balance_gap_is_the_total_variation_to_the_prior():
    from engine.recipes.selection import class_balance_gap

    predicted = torch.tensor([0, 0, 0, 1])  # histogram 0.75 / 0.25 / 0
    assert class_balance_gap(predicted, [2, 1, 1]) == pytest.approx(0.25)  # prior .5/.25/.25
    assert class_balance_gap(torch.tensor([0, 1, 1, 2]), [1, 2, 1]) == 0.0
    # a lower bound on the error: 2 of 4 wrong can open a gap of at most 2/4
    labels = torch.tensor([0, 1, 1, 2])
    wrong = torch.tensor([1, 1, 0, 0])
    error = (wrong != labels).float().mean().item()
    assert class_balance_gap(wrong, [1, 2, 1]) <= error


def test_shifted_views_translate_without_a_border():
    from engine.recipes.selection import shifted_views

    x = torch.arange(36.0).reshape(1, 1, 6, 6)
    views = shifted_views(x, 1)
    assert len(views) == 4 and all(v.shape == x.shape for v in views)
    assert torch.equal(views[3][..., :-1, :-1], x[..., 1:, 1:])  # moved up-left by one pixel
    assert torch.equal(views[0][..., 1:, 1:], x[..., :-1, :-1])  # moved down-right
    assert shifted_views(x, 0) == []


def test_view_agreement_counts_labels_that_survive_a_shift():
    import torch.nn.functional as F

    from engine.recipes.selection import view_agreement

    x = torch.zeros(4, 1, 6, 6)
    x[:2, :, 3, 3] = 1  # images 0-1: one bright pixel, which any diagonal shift moves
    x[2:] = 1  # images 2-3: uniform, unchanged by any shift

    def predict(images):  # class 1 when pixel (3, 3) is brighter than the image's mean
        bright = images[:, 0, 3, 3] > images.mean((1, 2, 3)) + 1e-6
        return F.one_hot(bright.long(), 2).float()

    assert view_agreement(predict, x, 1) == pytest.approx(0.5)
    assert view_agreement(predict, x[2:], 1) == 1.0


def test_mean_entropy_of_certain_and_uniform_predictions():
    from engine.recipes.selection import mean_entropy

    assert mean_entropy(torch.tensor([[1.0, 0.0], [0.0, 1.0]])) == pytest.approx(0.0, abs=1e-9)
    assert mean_entropy(torch.full((3, 4), 0.25)) == pytest.approx(math.log(4))


# ---------------------------------------------------------------- Fourier style transfer


def test_fourier_style_takes_the_targets_low_frequencies_and_keeps_the_shapes():
    from engine.recipes.style import fourier_style

    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 3, 16, 16, generator=g) * 0.5 + 0.4  # bright images
    dark = torch.rand(4, 3, 16, 16, generator=g) * 0.1  # a dark target population
    styled = fourier_style(x, dark, beta=0.05, generator=g, p=1.0)
    assert styled.shape == x.shape and styled.min() >= 0 and styled.max() <= 1
    # the mean (the zero frequency) now comes from a target image: dark
    assert styled.mean() < 0.2 < x.mean()

    # edges survive: the high-pass part of the image is unchanged (before clamping)
    def high_pass(t):
        return t - F.avg_pool2d(t, 3, stride=1, padding=1, count_include_pad=False)

    corr = torch.corrcoef(torch.stack([high_pass(x).flatten(), high_pass(styled).flatten()]))[0, 1]
    assert corr > 0.8
    assert torch.equal(fourier_style(x, dark, beta=0.0, generator=g), x)
    kept = fourier_style(x, dark, beta=0.05, generator=g, p=0.0)
    assert torch.equal(kept, x)
