"""Built-in data sets drawn from a seed, so everything runs on a fresh machine.

`shapes`: circles, squares and triangles (similar areas, so size is no clue) at random
positions, sizes, colours and tilts (up to ±15°) on mildly textured, noisy backgrounds.
The shapes fill about half the image and the texture stays well below the shape's contrast,
so a small conv net learns the set in a few epochs (the `quick-shapes` demo); full rotations,
tiny shapes and loud textures had made it a plateau that looked like a broken first run.
`haze_synth`: procedural outdoor scenes (sky gradient, ground, blobs standing on it) with
a depth map, hazed by the atmospheric scattering model I = J·t + A·(1 − t), t = exp(−β·d),
with β and A drawn per image. Both are built with batched torch ops from seeded
generators: the same seed gives the same pixels, and train/test use independent streams.
Large images are drawn in chunks so memory stays bounded at any image size.
"""

from __future__ import annotations

import hashlib
import math

import torch
import torch.nn.functional as F

from engine.datasets.bundle import DatasetBundle
from engine.datasets.catalog import HAZE_SIZES, SHAPE_CLASSES, SHAPES_SIZES
from engine.datasets.split import carve_validation, split_counts

SHAPE_TILT = math.radians(15)  # shapes stay upright-ish: ±15° of rotation at most
_BLOBS = 6
_TRIANGLE_NORMALS = (math.pi / 2, 7 * math.pi / 6, 11 * math.pi / 6)  # outward edge normals
_CHUNK_PIXELS = 1 << 22  # images × pixels drawn at once (~50 MB per float tensor)


def split_generator(seed: int, split: str) -> torch.Generator:
    """An independent, reproducible stream per (seed, split)."""
    digest = hashlib.sha256(f"cnnlab:{seed}:{split}".encode()).hexdigest()
    return torch.Generator().manual_seed(int(digest[:15], 16))


def _uniform(g: torch.Generator, shape: tuple[int, ...], low: float, high: float) -> torch.Tensor:
    return low + (high - low) * torch.rand(shape, generator=g)


def _grid(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates (y, x) in [0, 1], shaped (1, 1, S, S) for broadcasting."""
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    return yy[None, None], xx[None, None]


def _smooth_noise(g: torch.Generator, n: int, channels: int, cells: int, size: int) -> torch.Tensor:
    """Low-frequency noise in [-0.5, 0.5]: a random coarse grid, bilinearly upsampled."""
    coarse = torch.rand((n, channels, cells, cells), generator=g) - 0.5
    return F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)


def _to_uint8(images: torch.Tensor) -> torch.Tensor:
    return (images.clamp(0, 1) * 255).round().to(torch.uint8)


def _chunks(n: int, image_size: int) -> list[tuple[int, int]]:
    """(start, stop) ranges that keep each drawing step's float tensors small.

    The chunk length depends only on the image size, so a seed still fixes every pixel.
    """
    step = max(1, _CHUNK_PIXELS // (image_size * image_size))
    return [(start, min(start + step, n)) for start in range(0, n, step)]


# ---------------------------------------------------------------------- shapes


def _textured_background(g: torch.Generator, n: int, size: int) -> torch.Tensor:
    base = _uniform(g, (n, 3, 1, 1), 0.1, 0.9)
    blotches = _smooth_noise(g, n, 3, 4, size) * _uniform(g, (n, 1, 1, 1), 0.05, 0.3)
    yy, xx = _grid(size)
    angle = _uniform(g, (n, 1, 1, 1), 0, math.pi)
    freq = _uniform(g, (n, 1, 1, 1), 2, 8)
    phase = _uniform(g, (n, 1, 1, 1), 0, 2 * math.pi)
    wave = torch.sin(2 * math.pi * freq * (xx * angle.cos() + yy * angle.sin()) + phase)
    stripes = wave * _uniform(g, (n, 1, 1, 1), 0.0, 0.08)
    grain = torch.randn((n, 3, size, size), generator=g) * 0.03
    return (base + blotches + stripes + grain).clamp(0, 1)


def _shape_sdf(g: torch.Generator, labels: torch.Tensor, size: int) -> torch.Tensor:
    """Signed distance (in pixels) to each image's shape: negative inside.

    `radius` is that of the circle of the same area, 22–30 % of the image; the centre keeps
    1.2 radii from the border, so at most a corner tip is cut off.
    """
    n = labels.shape[0]
    yy, xx = _grid(size)
    radius = _uniform(g, (n, 1, 1, 1), 0.22, 0.30)
    margin = 1.2 * radius
    cx = margin + (1 - 2 * margin) * torch.rand((n, 1, 1, 1), generator=g)
    cy = margin + (1 - 2 * margin) * torch.rand((n, 1, 1, 1), generator=g)
    theta = _uniform(g, (n, 1, 1, 1), -SHAPE_TILT, SHAPE_TILT)
    dx, dy = xx - cx, yy - cy
    u = dx * theta.cos() + dy * theta.sin()
    v = -dx * theta.sin() + dy * theta.cos()
    circle = (dx * dx + dy * dy).sqrt() - radius
    # Half-sides and circumradius chosen so all three shapes cover about π·r² pixels.
    square = torch.maximum(u.abs(), v.abs()) - 0.886 * radius
    tri_r = 1.555 * radius
    edges = [u * math.cos(a) + v * math.sin(a) for a in _TRIANGLE_NORMALS]
    triangle = torch.stack(edges).amax(dim=0) - tri_r / 2
    label = labels.view(n, 1, 1, 1)
    sdf = torch.where(label == 0, circle, torch.where(label == 1, square, triangle))
    return sdf * size


def _draw_shapes(labels: torch.Tensor, image_size: int, g: torch.Generator) -> torch.Tensor:
    n = labels.shape[0]
    background = _textured_background(g, n, image_size)
    coverage = (0.5 - _shape_sdf(g, labels, image_size)).clamp(0, 1)  # 1-pixel antialiasing
    # The shape's colour is shifted from the background's mean so it stays visible.
    mean = background.mean(dim=(2, 3), keepdim=True)
    colour = (mean + _uniform(g, (n, 3, 1, 1), 0.3, 0.7)) % 1.0
    shading = 1 + _smooth_noise(g, n, 1, 3, image_size) * 0.2
    images = background * (1 - coverage) + (colour * shading).clamp(0, 1) * coverage
    images = images + torch.randn(images.shape, generator=g) * 0.015
    return _to_uint8(images)


def make_shapes(n: int, image_size: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` shape images (uint8) and balanced labels (int64, shuffled)."""
    labels = torch.arange(n, dtype=torch.int64) % len(SHAPE_CLASSES)
    labels = labels[torch.randperm(n, generator=g)]
    images = torch.empty((n, 3, image_size, image_size), dtype=torch.uint8)
    for start, stop in _chunks(n, image_size):
        images[start:stop] = _draw_shapes(labels[start:stop], image_size, g)
    return images, labels


# ----------------------------------------------------------------- haze_synth


def make_clear_scenes(
    n: int, image_size: int, g: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clear scenes J (float, [0, 1]) and depth maps d (N, 1, S, S) in (0, 1]; 1 is the sky."""
    yy, xx = _grid(image_size)
    horizon = _uniform(g, (n, 1, 1, 1), 0.35, 0.6)
    top = torch.cat(
        [_uniform(g, (n, 1, 1, 1), 0.2, 0.5), _uniform(g, (n, 1, 1, 1), 0.4, 0.7),
         _uniform(g, (n, 1, 1, 1), 0.75, 1.0)], dim=1,
    )  # fmt: skip
    low = _uniform(g, (n, 3, 1, 1), 0.75, 0.95)
    mix = (yy / horizon).clamp(0, 1)
    sky = top * (1 - mix) + low * mix
    ground_colour = torch.cat(
        [_uniform(g, (n, 1, 1, 1), 0.2, 0.55), _uniform(g, (n, 1, 1, 1), 0.3, 0.6),
         _uniform(g, (n, 1, 1, 1), 0.1, 0.35)], dim=1,
    )  # fmt: skip
    below = (yy - horizon).clamp_min(1e-3)
    ground = ground_colour * (1.1 - 0.4 * below / (1 - horizon))
    ground = ground + _smooth_noise(g, n, 3, 8, image_size) * 0.15
    is_ground = yy > horizon
    scene = torch.where(is_ground, ground, sky)
    # Perspective: ground depth falls off as 1 / (distance below the horizon).
    ground_depth = (0.1 * (1 - horizon) / below).clamp(0.1, 1.0)
    depth = torch.where(is_ground, ground_depth, torch.ones_like(yy))
    for _ in range(_BLOBS):  # a z-buffer: nearer blobs hide what lies behind them
        base_y = horizon + (1 - horizon) * _uniform(g, (n, 1, 1, 1), 0.02, 0.9)
        blob_depth = (0.1 * (1 - horizon) / (base_y - horizon)).clamp(0.1, 1.0)
        scale = (0.25 / blob_depth).sqrt().clamp(0.5, 1.6)
        rx = _uniform(g, (n, 1, 1, 1), 0.04, 0.12) * scale
        ry = _uniform(g, (n, 1, 1, 1), 0.06, 0.2) * scale
        cx = _uniform(g, (n, 1, 1, 1), 0.0, 1.0)
        inside = ((xx - cx) / rx) ** 2 + ((yy - (base_y - ry)) / ry) ** 2 <= 1
        visible = inside & (blob_depth < depth)
        colour = _uniform(g, (n, 3, 1, 1), 0.05, 0.9)
        shade = 0.75 + 0.25 * ((base_y - yy) / (2 * ry)).clamp(0, 1)
        scene = torch.where(visible, colour * shade, scene)
        depth = torch.where(visible, blob_depth.expand_as(depth), depth)
    return scene.clamp(0, 1), depth


def apply_haze(
    clear: torch.Tensor, depth: torch.Tensor, beta: torch.Tensor, airlight: torch.Tensor
) -> torch.Tensor:
    """The atmospheric scattering model: I = J·t + A·(1 − t), t = exp(−β·d).

    `clear` J is (N, 3, H, W) in [0, 1], `depth` d broadcasts to (N, 1, H, W); `beta` and
    `airlight` A broadcast per image (and per channel for A).
    """
    transmission = torch.exp(-beta * depth)
    return clear * transmission + airlight * (1 - transmission)


def make_haze(n: int, image_size: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(hazy, clear) uint8 pairs with β ∈ [0.8, 2.5] and a greyish A ∈ [0.71, 1] per image."""
    hazy = torch.empty((n, 3, image_size, image_size), dtype=torch.uint8)
    clear = torch.empty_like(hazy)
    for start, stop in _chunks(n, image_size):
        count = stop - start
        scene, depth = make_clear_scenes(count, image_size, g)
        beta = _uniform(g, (count, 1, 1, 1), 0.8, 2.5)
        airlight = _uniform(g, (count, 1, 1, 1), 0.75, 1.0) + _uniform(
            g, (count, 3, 1, 1), -0.04, 0.04
        )
        hazy[start:stop] = _to_uint8(apply_haze(scene, depth, beta, airlight.clamp(0, 1)))
        clear[start:stop] = _to_uint8(scene)
    return hazy, clear


# ------------------------------------------------------------------- bundles


def _split_sizes(defaults: tuple[int, int], test_fraction: float | None) -> tuple[int, int]:
    """Default (train, test) sizes, or the same total split by `test_fraction`."""
    if test_fraction is None:
        return defaults
    total = sum(defaults)
    n_test = split_counts(total, test_fraction, what="the synthetic set")[2]
    return total - n_test, n_test


def load_shapes(
    *, image_size: int, test_fraction: float | None, val_fraction: float, seed: int
) -> DatasetBundle:
    """The `shapes` set: 2,400 train / 600 test by default, balanced over 3 classes."""
    n_train, n_test = _split_sizes(SHAPES_SIZES, test_fraction)
    train_x, train_y = make_shapes(n_train, image_size, split_generator(seed, "train"))
    test_x, test_y = make_shapes(n_test, image_size, split_generator(seed, "test"))
    keep, val = carve_validation(train_y.tolist(), val_fraction, names=SHAPE_CLASSES)
    names = [f"train/{i:04d}-{SHAPE_CLASSES[c]}" for i, c in enumerate(train_y.tolist())]
    keep_t, val_t = torch.tensor(keep, dtype=torch.int64), torch.tensor(val, dtype=torch.int64)
    return DatasetBundle(
        name="shapes", task="classify", classes=list(SHAPE_CLASSES),
        train_x=train_x[keep_t], train_y=train_y[keep_t],
        val_x=train_x[val_t], val_y=train_y[val_t], test_x=test_x, test_y=test_y,
        test_names=[f"test/{i:04d}-{SHAPE_CLASSES[c]}" for i, c in enumerate(test_y.tolist())],
        source=f"synthetic (seed {seed})",
        train_names=[names[i] for i in keep], val_names=[names[i] for i in val],
    )  # fmt: skip


def load_haze_synth(
    *, image_size: int, test_fraction: float | None, val_fraction: float, seed: int
) -> DatasetBundle:
    """The `haze_synth` set: 200 train / 50 test (hazy, clear) pairs by default."""
    n_train, n_test = _split_sizes(HAZE_SIZES, test_fraction)
    train_x, train_y = make_haze(n_train, image_size, split_generator(seed, "train"))
    test_x, test_y = make_haze(n_test, image_size, split_generator(seed, "test"))
    keep, val = carve_validation([0] * n_train, val_fraction, names=["pairs"])
    return DatasetBundle(
        name="haze_synth", task="dehaze", classes=[],
        train_x=train_x[keep], train_y=train_y[keep],
        val_x=train_x[val], val_y=train_y[val], test_x=test_x, test_y=test_y,
        test_names=[f"test/{i:04d}" for i in range(n_test)],
        source=f"synthetic (seed {seed})",
        train_names=[f"train/{i:04d}" for i in keep], val_names=[f"train/{i:04d}" for i in val],
    )  # fmt: skip
