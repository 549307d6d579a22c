"""`explain`: why a run fails, on its own test images.

Classification: the misclassified test images, most confident mistakes first, each drawn
as image | Grad-CAM of the predicted class (where the net looked to say it), plus which
confusions are most common. Dehazing: the worst-restored test images (lowest PSNR) as
hazy | output | clear. Both: the first conv layer's learned filters and one image's feature
maps per block — "what does a convolution learn", shown on the user's own model.

Predictions are made the run's way (its TTA, and BN re-estimated on the test images when
the run did so), so the errors are the ones behind its confusion matrix. Everything lands in
`<run>/explain/` with an index, `explain.json`, that the dashboard and the report read.
"""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from engine.errors import DatasetError
from engine.recipes import batchnorm_adapted, has_batchnorm, tta_outputs
from engine.runs.files import write_json_atomic
from engine.trainer.metrics import psnr, ssim
from engine.use.batches import forward_in_batches, start_batch
from engine.use.gradcam import cam_layer, feature_maps, first_conv, grad_cam
from engine.use.loading import LoadedRun
from engine.use.pictures import (
    caption,
    feature_tiles,
    filter_tiles,
    grid,
    overlay,
    save_png,
    side_by_side,
    to_image,
    upscale,
)
from engine.use.predict import class_probabilities
from engine.use.records import EXPLAIN_DIR, INDEX_FILE, read_explanation
from engine.use.run_folder import inside_run

DEFAULT_LIMIT = 12
FEATURE_CHANNELS = 16
PICTURE_SIDE = 128  # tiny test images are enlarged (nearest) to at least this
Progress = Callable[[int, int, str], None]


def explain_run(
    loaded: LoadedRun,
    *,
    limit: int = DEFAULT_LIMIT,
    out_dir: Path | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write the explanation of `loaded`'s test errors; returns the index (as saved)."""
    out = Path(out_dir) if out_dir is not None else loaded.run_dir / EXPLAIN_DIR
    say = progress or (lambda done, total, message: None)
    say(0, 4, "loading the run's test images")
    bundle = loaded.run_data(progress)
    x, y, names = bundle.test_x, bundle.test_y, list(bundle.test_names)
    if len(x) == 0:
        raise DatasetError(f"run {loaded.run_id} has no test images to explain")
    pre = loaded.preprocessing
    inputs = pre.inputs(x)
    index: dict[str, Any] = {
        "run_id": loaded.run_id,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "checkpoint": loaded.checkpoint,
        "epoch": loaded.epoch,
        "task": loaded.task,
        "num_test": len(x),
        "source": bundle.source or "built-in",
        "notes": list(loaded.notes),
    }
    with _adapted(loaded, inputs, index["notes"]):
        say(1, 4, "predicting the test images")
        if loaded.task == "classify":
            found = _errors(loaded, x, y, names, inputs, limit, out, bundle.source, say)
            index.update(found)
        else:
            index.update(_worst_dehazed(loaded, x, y, names, inputs, limit, out))
        say(3, 4, "drawing filters and feature maps")
        focus = index["images"][0]["test_index"] if index["images"] else 0
        index.update(_filters(loaded, out))
        index["feature_maps"] = _feature_maps(loaded, inputs[focus : focus + 1], out)
        index["feature_image"] = names[focus] if focus < len(names) else str(focus)
    write_json_atomic(inside_run(loaded.run_dir, out / INDEX_FILE), index)
    _remove_stale(out, loaded.run_dir, index)
    say(4, 4, "done")
    return index


@contextlib.contextmanager
def _adapted(loaded: LoadedRun, inputs: torch.Tensor, notes: list[str]):
    """BN re-estimated on the test images for the duration, when the run evaluated so."""
    if loaded.preprocessing.bn_adapt and has_batchnorm(loaded.model):
        notes.append("BatchNorm re-estimated on the test images, as the run evaluated them")
        batches = (
            inputs[i : i + loaded.config.batch_size].to(loaded.device)
            for i in range(0, len(inputs), loaded.config.batch_size)
        )
        with batchnorm_adapted(loaded.model, batches):
            yield
    else:
        yield


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")[:24] or "x"


def _picture_base(image: torch.Tensor) -> Image.Image:
    return upscale(to_image(image), PICTURE_SIDE)


def _errors(loaded, x, y, names, inputs, limit, out, source, say) -> dict[str, Any]:
    probs = class_probabilities(loaded, x)
    predicted = probs.argmax(dim=1)
    wrong = (predicted != y).nonzero().flatten()
    confidence = probs[wrong, predicted[wrong]]
    order = wrong[confidence.argsort(descending=True)]
    chosen = order[:limit]
    classes = loaded.classes
    pairs = Counter((classes[int(y[i])], classes[int(predicted[i])]) for i in wrong.tolist())
    result: dict[str, Any] = {
        "errors": len(wrong),
        "accuracy": 1 - len(wrong) / len(x),
        "confusions": [
            {"true": t, "predicted": p, "count": n} for (t, p), n in pairs.most_common()
        ],
        "images": [],
    }
    layer = cam_layer(loaded.model, inputs[:1].to(loaded.device))
    result["gradcam_layer"] = None if layer is None else layer.name
    maps = None
    if layer is not None and len(chosen):
        say(2, 4, f"Grad-CAM of {len(chosen)} misclassified image(s) at {layer.name}")
        maps = grad_cam(
            loaded.model,
            layer.module,
            inputs[chosen].to(loaded.device),
            predicted[chosen].to(loaded.device),
        )
    elif layer is None:
        result["gradcam_note"] = f"{loaded.config.model} has no convolutional feature map"
    for rank, i in enumerate(chosen.tolist(), start=1):
        true, pred = classes[int(y[i])], classes[int(predicted[i])]
        base = _picture_base(x[i])
        panels = [base]
        if maps is not None:
            panels.append(overlay(base, _resized(maps[rank - 1], base.size)))
        path = out / "errors" / f"{rank:02d}-{_slug(true)}-as-{_slug(pred)}.png"
        picture = _saved(loaded, side_by_side(panels), path)
        result["images"].append(
            {
                "rank": rank,
                "test_index": i,
                "name": names[i] if i < len(names) else str(i),
                "file": _source_file(source, names, i),
                "true": true,
                "predicted": pred,
                "confidence": float(probs[i, predicted[i]]),
                "true_probability": float(probs[i, y[i]]),
                "picture": picture,
            }
        )
    return result


def _resized(heat: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    picture = Image.fromarray(heat.numpy().astype(np.float32), mode="F")
    return np.asarray(picture.resize(size, Image.Resampling.BILINEAR))


def _source_file(source: str, names: list[str], i: int) -> str | None:
    if not source or i >= len(names):
        return None
    path = Path(source) / names[i]
    return str(path) if path.is_file() else None


def _worst_dehazed(loaded, x, y, names, inputs, limit, out) -> dict[str, Any]:
    outputs, _ = forward_in_batches(
        lambda batch: tta_outputs(loaded.model, batch, loaded.preprocessing.tta),
        inputs,
        device=loaded.device,
        amp_dtype=loaded.amp_dtype,
        batch_size=start_batch(loaded.device, loaded.config.batch_size),
    )
    outputs = outputs.clamp(0, 1)
    clear = y.float() / 255
    scores_psnr, scores_ssim = psnr(outputs, clear), ssim(outputs, clear)
    order = scores_psnr.argsort()[:limit]
    images = []
    for rank, i in enumerate(order.tolist(), start=1):
        panels = [_picture_base(x[i]), _picture_base(outputs[i]), _picture_base(y[i])]
        path = out / "errors" / f"{rank:02d}-{_slug(Path(names[i]).stem if names else str(i))}.png"
        images.append(
            {
                "rank": rank,
                "test_index": i,
                "name": names[i] if i < len(names) else str(i),
                "psnr": float(scores_psnr[i]),
                "ssim": float(scores_ssim[i]),
                "picture": _saved(loaded, side_by_side(panels), path),
            }
        )
    return {"images": images, "mean_psnr": float(scores_psnr.mean()), "gradcam_layer": None}


def _filters(loaded: LoadedRun, out: Path) -> dict[str, Any]:
    conv = first_conv(loaded.model)
    if conv is None:
        return {"filters": None}
    picture = _saved(loaded, grid(filter_tiles(conv.weight)), out / "filters.png")
    return {"filters": picture, "filters_shape": list(conv.weight.shape)}


def _feature_maps(loaded: LoadedRun, image: torch.Tensor, out: Path) -> list[dict[str, Any]]:
    entries = []
    for number, (block, maps) in enumerate(feature_maps(loaded.model, image.to(loaded.device)), 1):
        tiles = feature_tiles(maps, FEATURE_CHANNELS)
        shape = "x".join(map(str, block.shape))
        path = out / "features" / f"{number:02d}-{_slug(block.name)}.png"
        picture = _saved(loaded, caption(grid(tiles), f"{block.name}: {shape}"), path)
        entries.append({"block": block.name, "shape": list(block.shape), "picture": picture})
    return entries


def _saved(loaded: LoadedRun, picture: Image.Image, path: Path) -> str:
    """Save `picture` at `path` (inside the run) and return its path relative to the run
    folder, as the index keeps it (the run folder may move)."""
    save_png(picture, inside_run(loaded.run_dir, path))
    return str(path.resolve().relative_to(loaded.run_dir.resolve()))


def _remove_stale(out: Path, run_dir: Path, index: dict[str, Any]) -> None:
    """PNGs of an earlier explanation that this one did not write again."""
    kept = {entry["picture"] for entry in index.get("images", []) + index.get("feature_maps", [])}
    for folder in ("errors", "features"):
        for png in (out / folder).glob("*.png"):
            if str(png.resolve().relative_to(run_dir.resolve())) not in kept:
                png.unlink(missing_ok=True)


__all__ = ["EXPLAIN_DIR", "explain_run", "read_explanation"]
