"""Batched normalisation and augmentation: exact geometry, shared pair transforms, seeds."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.datasets.augment import augment_batch, augment_pair, to_float
from engine.datasets.bundle import channel_stats
from engine.errors import DatasetError


def _images(n=16, size=8, seed=0) -> torch.Tensor:
    return torch.randint(
        0, 256, (n, 3, size, size), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8
    )


def _gen(seed=0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------- to_float


def test_to_float_none_and_lab_ranges():
    x = torch.tensor([0, 255, 51], dtype=torch.uint8).view(1, 3, 1, 1)
    assert to_float(x, "none").flatten().tolist() == pytest.approx([0.0, 1.0, 0.2])
    assert to_float(x, "lab").flatten().tolist() == pytest.approx([-1.0, 1.0, -0.6])
    assert to_float(x).dtype == torch.float32


def test_to_float_dataset_standardises_the_training_split_per_channel():
    x = _images(64)
    x[:, 1] //= 4  # a dark green channel: per-channel statistics matter
    mean, std = channel_stats(x)
    out = to_float(x, "dataset", mean=mean, std=std)
    assert out.mean(dim=(0, 2, 3)).abs().max() < 1e-4
    assert out.std(dim=(0, 2, 3), unbiased=False) == pytest.approx([1.0, 1.0, 1.0], abs=1e-3)


def test_to_float_image_standardises_each_image_and_survives_flat_ones():
    x = _images(4)
    x[3] = 7  # a flat image must not divide by zero
    out = to_float(x, "image")
    assert torch.isfinite(out).all()
    assert out[:3].mean(dim=(1, 2, 3)).abs().max() < 1e-5
    assert out[:3].std(dim=(1, 2, 3), unbiased=False) == pytest.approx([1.0] * 3, abs=1e-4)
    assert torch.all(out[3] == 0)


def test_to_float_rejects_unknown_modes_and_missing_statistics():
    x = _images(2)
    with pytest.raises(DatasetError, match="unknown normalization 'zscore'"):
        to_float(x, "zscore")
    with pytest.raises(DatasetError, match="mean=bundle.mean"):
        to_float(x, "dataset")


# ---------------------------------------------------------------------- geometry


def test_flip_mirrors_some_images_and_leaves_the_rest():
    x = to_float(_images(32))
    out = augment_batch(x, "flip", _gen())
    same = (out == x).flatten(1).all(1)
    mirrored = (out == x.flip(-1)).flatten(1).all(1)
    assert torch.all(same | mirrored)
    assert same.any() and mirrored.any()


def _windows(image: torch.Tensor, pad: int) -> list[torch.Tensor]:
    """Every crop_flip outcome for one image: all shifted windows, plain and mirrored."""
    size = image.shape[-1]
    padded = F.pad(image[None], (pad,) * 4, mode="reflect")[0]
    crops = [
        padded[:, i : i + size, j : j + size]
        for i in range(2 * pad + 1)
        for j in range(2 * pad + 1)
    ]
    return crops + [c.flip(-1) for c in crops]


def test_crop_flip_is_a_reflect_padded_window_of_each_image():
    x = to_float(_images(24, size=10))
    out = augment_batch(x, "crop_flip", _gen(3))
    shifted = 0
    for image, result in zip(x, out, strict=True):
        matches = [i for i, w in enumerate(_windows(image, 4)) if torch.equal(w, result)]
        assert matches, "output is not a 4-pixel reflect-padded crop of its input"
        shifted += 40 not in matches and 121 not in matches  # 40 = centre window (4, 4)
    assert shifted > 0


def test_augmentation_is_reproducible_for_a_seed_and_varies_across_seeds():
    x = to_float(_images(16))
    for policy in ("flip", "crop_flip", "strong"):
        assert torch.equal(augment_batch(x, policy, _gen(1)), augment_batch(x, policy, _gen(1)))
        assert not torch.equal(augment_batch(x, policy, _gen(1)), augment_batch(x, policy, _gen(2)))


def test_none_policy_and_empty_batches_pass_through():
    x = to_float(_images(4))
    assert augment_batch(x, "none", _gen()) is x
    empty = torch.empty(0, 3, 8, 8)
    assert augment_batch(empty, "strong", _gen()).shape == (0, 3, 8, 8)


def test_unknown_policy_is_a_dataset_error():
    with pytest.raises(DatasetError, match="unknown augmentation 'mixup'"):
        augment_batch(to_float(_images(2)), "mixup", _gen())


# ------------------------------------------------------------------------ strong


def test_strong_changes_pixels_keeps_shape_and_stays_finite():
    x = to_float(_images(32, size=16))
    out = augment_batch(x, "strong", _gen())
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.isfinite(out).all()
    assert (out - x).abs().mean() > 0.05


def test_strong_works_the_same_on_lab_normalised_inputs():
    """Colour jitter is range-agnostic: augmenting 2x−1 equals 2·augment(x)−1."""
    x = to_float(_images(16, size=12))
    on_unit = augment_batch(x, "strong", _gen(5))
    on_lab = augment_batch(x * 2 - 1, "strong", _gen(5))
    torch.testing.assert_close(on_lab, on_unit * 2 - 1, atol=1e-4, rtol=0)


# ------------------------------------------------------------------------- pairs


@pytest.mark.parametrize("policy", ["flip", "crop_flip"])
def test_pairs_get_the_same_geometric_transform(policy):
    x = to_float(_images(24, size=10))
    y = 1 - x  # any pointwise relation survives only if both got the same crop and flip
    ax, ay = augment_pair(x, y, policy, _gen(7))
    assert not torch.equal(ax, x)
    torch.testing.assert_close(ay, 1 - ax)


def test_strong_pairs_share_geometry_and_one_gain_per_channel():
    x = to_float(_images(24, size=10))
    ax, ay = augment_pair(x, 1 - x, "strong", _gen(7))
    # ax = k·T(x), ay = k·(1 − T(x)) → ax + ay = k, constant over each image channel.
    gain = ax + ay
    spread = gain.amax(dim=(2, 3)) - gain.amin(dim=(2, 3))
    assert spread.max() < 1e-5
    assert gain.min() >= 0.75 - 1e-6 and gain.max() <= 1.0 + 1e-6
    assert ax.min() >= 0 and ay.max() <= 1  # stays a valid image


def test_pair_shapes_must_match():
    with pytest.raises(DatasetError, match="equal shapes"):
        augment_pair(torch.zeros(2, 3, 8, 8), torch.zeros(2, 3, 4, 4), "flip", _gen())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_augmentation_runs_on_cuda_with_a_cpu_generator_and_matches_cpu():
    x = to_float(_images(16, size=12))
    for policy in ("flip", "crop_flip", "strong"):
        on_cpu = augment_batch(x, policy, _gen(4))
        on_gpu = augment_batch(x.cuda(), policy, _gen(4))
        assert on_gpu.device.type == "cuda"
        torch.testing.assert_close(on_gpu.cpu(), on_cpu, atol=1e-5, rtol=1e-5)
    ax, ay = augment_pair(x.cuda(), (1 - x).cuda(), "strong", _gen(4))
    assert ax.device.type == "cuda" and ay.device.type == "cuda"
    normalised = to_float(_images(4).cuda(), "dataset", mean=(0.5,) * 3, std=(0.25,) * 3)
    assert normalised.device.type == "cuda"
