"""Built-in synthetic data sets: sizes, balance, determinism, and the haze model itself."""

from __future__ import annotations

import time

import pytest
import torch

from engine.datasets import probe_dataset
from engine.datasets.registry import load_dataset
from engine.datasets.synthetic import SHAPE_CLASSES, apply_haze, make_clear_scenes, split_generator


@pytest.fixture(scope="module")
def shapes():
    return load_dataset("shapes")


@pytest.fixture(scope="module")
def haze():
    return load_dataset("haze_synth")


def test_shapes_defaults_are_balanced_uint8_images(shapes):
    bundle = shapes
    assert bundle.task == "classify" and bundle.classes == SHAPE_CLASSES
    assert bundle.split_sizes() == {"train": 2400, "val": 0, "test": 600}
    assert bundle.train_x.shape == (2400, 3, 32, 32) and bundle.train_x.dtype == torch.uint8
    counts = {c: {"train": 800, "val": 0, "test": 200} for c in SHAPE_CLASSES}
    assert bundle.class_counts() == counts
    assert bundle.train_y[:30].unique().numel() == 3  # shuffled, not grouped by class
    assert probe_dataset("shapes").splits == bundle.class_counts()


def test_shapes_are_deterministic_for_a_seed_and_differ_across_seeds():
    a, b = (
        load_dataset("shapes", seed=3, image_size=12),
        load_dataset("shapes", seed=3, image_size=12),
    )
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    c = load_dataset("shapes", seed=4, image_size=12)
    assert not torch.equal(a.train_x, c.train_x)
    assert not torch.equal(a.train_x[:600], a.test_x)  # train and test are separate streams


def test_each_shape_image_has_a_shape_that_stands_out_from_its_background(shapes):
    """Pixels near the centre differ from the border's colour: a shape was drawn there."""
    x = shapes.train_x.float()
    border = torch.cat([x[:, :, 0], x[:, :, -1], x[:, :, :, 0], x[:, :, :, -1]], dim=2)
    border_mean = border.mean(dim=2, keepdim=True).unsqueeze(-1)
    contrast = (x[:, :, 10:22, 10:22] - border_mean).abs().amax(dim=1)
    assert (contrast > 40).flatten(1).float().mean(1).min() > 0.05


def test_shapes_at_32_px_build_fast(shapes):
    start = time.process_time()  # CPU time: wall time on a shared 2-core box is noise
    load_dataset("shapes", seed=1)
    # ~0.5 s of CPU for 3,000 images on an idle core; the bound allows thread-pool spinning.
    assert time.process_time() - start < 2.0


def test_synthetic_sets_honour_test_and_val_fractions():
    bundle = load_dataset("shapes", test_fraction=0.4, val_fraction=0.1, image_size=8)
    assert bundle.split_sizes() == {"train": 1620, "val": 180, "test": 1200}
    assert bundle.val_x.shape[0] == bundle.val_y.shape[0] == len(bundle.val_names)
    haze = load_dataset("haze_synth", val_fraction=0.25, image_size=8)
    assert haze.split_sizes() == {"train": 150, "val": 50, "test": 50}


def test_haze_synth_defaults_are_uint8_pairs_hazier_than_their_clear_scene(haze):
    bundle = haze
    assert bundle.task == "dehaze"
    assert bundle.split_sizes() == {"train": 200, "val": 0, "test": 50}
    assert bundle.train_y.shape == bundle.train_x.shape == (200, 3, 32, 32)
    # Haze lifts dark pixels toward the bright airlight and lowers contrast.
    hazy, clear = bundle.train_x.float(), bundle.train_y.float()
    assert (hazy.mean(dim=(1, 2, 3)) > clear.mean(dim=(1, 2, 3))).float().mean() > 0.9
    assert (hazy.std(dim=(1, 2, 3)) < clear.std(dim=(1, 2, 3))).float().mean() > 0.9


def test_haze_synth_is_deterministic_for_a_seed():
    a, b = load_dataset("haze_synth", image_size=12), load_dataset("haze_synth", image_size=12)
    assert torch.equal(a.test_x, b.test_x) and torch.equal(a.train_y, b.train_y)
    assert not torch.equal(a.train_x, load_dataset("haze_synth", image_size=12, seed=1).train_x)


def test_apply_haze_follows_the_scattering_model():
    clear = torch.rand(2, 3, 4, 4)
    depth = torch.rand(2, 1, 4, 4)
    airlight = torch.tensor([0.9, 0.8]).view(2, 1, 1, 1)
    assert torch.equal(apply_haze(clear, depth, torch.zeros(2, 1, 1, 1), airlight), clear)
    far = apply_haze(clear, torch.full_like(depth, 1e3), torch.ones(2, 1, 1, 1), airlight)
    torch.testing.assert_close(far, airlight.expand_as(clear))
    beta = torch.full((2, 1, 1, 1), 1.5)
    t = torch.exp(-1.5 * depth)
    torch.testing.assert_close(
        apply_haze(clear, depth, beta, airlight), clear * t + airlight * (1 - t)
    )


def test_clear_scenes_put_the_sky_far_and_the_foreground_near():
    clear, depth = make_clear_scenes(8, 32, split_generator(0, "test"))
    assert clear.min() >= 0 and clear.max() <= 1
    assert depth.min() > 0 and depth.max() <= 1
    assert torch.all(depth[:, :, 0] == 1.0)  # top row is sky
    assert depth[:, :, -1].mean() < 0.5  # bottom rows are close


@pytest.mark.parametrize("name", ["shapes", "haze_synth"])
def test_synthetic_sets_are_always_found(name, tmp_path):
    status = probe_dataset(name, tmp_path / "does-not-exist")
    assert (
        status.found
        and status.state == "found"
        and status.count == {"shapes": 3000, "haze_synth": 250}[name]
    )


def test_big_images_are_drawn_in_chunks_that_continue_one_stream(monkeypatch):
    """Chunking bounds memory at large sizes; each chunk must draw new images, and a seed
    must still fix every pixel."""
    from engine.datasets import synthetic

    monkeypatch.setattr(synthetic, "_CHUNK_PIXELS", 10 * 12 * 12)  # 10 images per chunk
    images, labels = synthetic.make_shapes(25, 12, split_generator(0, "train"))
    again, labels_again = synthetic.make_shapes(25, 12, split_generator(0, "train"))
    assert torch.equal(images, again) and torch.equal(labels, labels_again)
    assert sorted(labels.bincount().tolist()) == [8, 8, 9]
    assert not torch.equal(images[:5], images[10:15]) and not torch.equal(images[:5], images[20:])
    hazy, clear = synthetic.make_haze(25, 12, split_generator(0, "train"))
    assert not torch.equal(clear[:5], clear[10:15])
    assert (hazy.float().mean(dim=(1, 2, 3)) > clear.float().mean(dim=(1, 2, 3))).all()
