"""`predict`: a trained run applied to a person's own images.

Classification gives each image's top-k classes with probabilities; dehazing writes each
dehazed image at the input's own size into an output folder, never over an input. Inputs go
through exactly the run's preprocessing (`LoadedRun.preprocessing`), with its test-time
augmentation; BatchNorm adaptation is not redone on a handful of photos, and that is stated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from engine.datasets.decode import decode_image, read_rgb
from engine.errors import CnnlabError
from engine.recipes import has_batchnorm, tta_logits, tta_outputs
from engine.use.batches import forward_in_batches, start_batch
from engine.use.images import decode_chunks, find_images
from engine.use.loading import LoadedRun
from engine.use.pictures import save_png, to_image

Progress = Callable[[int, int], None]  # (images done, images in all)
SCALES = ("trained", "native")
OUTPUT_SUFFIX = ".dehazed.png"


@dataclass
class ClassPrediction:
    path: str
    top: list[tuple[str, float]]  # (class, probability), most likely first


@dataclass
class DehazedImage:
    source: str
    output: str
    width: int
    height: int


@dataclass
class PredictResult:
    """What `predict` did: one entry per usable input, the skipped files, facts to state."""

    run: str
    task: str
    preprocessing: str
    predictions: list[ClassPrediction] = field(default_factory=list)
    dehazed: list[DehazedImage] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "task": self.task,
            "preprocessing": self.preprocessing,
            "predictions": [
                {"path": p.path, "top": [{"class": c, "probability": q} for c, q in p.top]}
                for p in self.predictions
            ],
            "dehazed": [vars(d) for d in self.dehazed],
            "skipped": [{"path": path, "reason": reason} for path, reason in self.skipped],
            "notes": self.notes,
        }


def predict(
    loaded: LoadedRun,
    inputs: Sequence[str | Path],
    *,
    top_k: int = 3,
    out_dir: Path | str | None = None,
    scale: str = "trained",
    progress: Progress | None = None,
) -> PredictResult:
    """Classify `inputs` (top-k) or dehaze them into `out_dir` (default `./dehazed`)."""
    found = find_images(inputs)
    result = PredictResult(
        loaded.describe(),
        loaded.task,
        loaded.preprocessing.text(),
        skipped=list(found.skipped),
        notes=list(loaded.notes) + _bn_note(loaded),
    )
    if loaded.task == "classify":
        _classify(loaded, found.files, top_k, result, progress)
    else:
        _dehaze(loaded, found.files, Path(out_dir or "dehazed"), scale, result, progress)
    return result


def _bn_note(loaded: LoadedRun) -> list[str]:
    if not (loaded.preprocessing.bn_adapt and has_batchnorm(loaded.model)):
        return []
    return [
        "the run re-estimated BatchNorm statistics on each test split (bn_adapt); "
        "predictions here use the training statistics, since a few images are too few to "
        "re-estimate them: `cnnlab evaluate` scores whole folders the run's way"
    ]


# ------------------------------------------------------------------ classification


def class_probabilities(loaded: LoadedRun, images: torch.Tensor) -> torch.Tensor:
    """(N, classes) probabilities of uint8 images decoded at the run's size, the run's way."""
    pre = loaded.preprocessing
    inputs = pre.inputs(images)
    logits, _ = forward_in_batches(
        lambda batch: tta_logits(loaded.model, batch, pre.tta),
        inputs,
        device=loaded.device,
        amp_dtype=loaded.amp_dtype,
        batch_size=start_batch(loaded.device, loaded.config.batch_size),
    )
    return logits.softmax(dim=1) if len(logits) else logits


def _classify(loaded, files, top_k, result: PredictResult, progress) -> None:
    if top_k < 1:
        raise CnnlabError(f"--top-k must be at least 1, not {top_k}")
    k = min(top_k, len(loaded.classes))
    pre = loaded.preprocessing
    done = 0
    for chunk in decode_chunks(files, pre.image_size, pre.resize):
        result.skipped.extend(chunk.skipped)
        if chunk.files:
            probs = class_probabilities(loaded, chunk.images)
            values, indices = probs.topk(k, dim=1)
            for path, vals, idx in zip(chunk.files, values.tolist(), indices.tolist(), strict=True):
                top = [(loaded.classes[i], float(v)) for v, i in zip(vals, idx, strict=True)]
                result.predictions.append(ClassPrediction(str(path), top))
        done += len(chunk.files) + len(chunk.skipped)
        if progress:
            progress(done, len(files))


# ------------------------------------------------------------------ dehazing


def _dehaze(loaded, files, out_dir: Path, scale: str, result: PredictResult, progress) -> None:
    if scale not in SCALES:
        raise CnnlabError(f"scale must be one of {', '.join(SCALES)}, not {scale!r}")
    if out_dir.exists() and not out_dir.is_dir():
        raise CnnlabError(f"--out {out_dir} exists and is not a folder")
    protected = {p.resolve() for p in files}
    taken: set[Path] = set()
    if scale == "native":
        result.notes.append(
            "native scale: the net ran on each image at its own size (it was trained at "
            f"{loaded.config.image_size} px, so haze looks smaller to it than in training)"
        )
    for index, path in enumerate(files, start=1):
        full = read_rgb(path)
        if isinstance(full, str):
            result.skipped.append((str(path), full))
        else:
            output = _dehaze_one(loaded, path, full, scale)
            target = _output_path(out_dir, path, protected, taken)
            save_png(output, target)
            result.dehazed.append(DehazedImage(str(path), str(target), *output.size))
        if progress:
            progress(index, len(files))


def _dehaze_one(loaded: LoadedRun, path: Path, full: Image.Image, scale: str) -> Image.Image:
    """The dehazed image at `full`'s size."""
    pre = loaded.preprocessing
    if scale == "trained":  # the run's own decode: S×S stretch, JPEG draft included
        pixels = decode_image(path, pre.image_size, "stretch")
    else:
        pixels = np.asarray(full, dtype=np.uint8)
    images = torch.tensor(pixels).permute(2, 0, 1).unsqueeze(0).contiguous()
    outputs, _ = forward_in_batches(
        lambda batch: tta_outputs(loaded.model, batch, pre.tta),
        pre.inputs(images),
        device=loaded.device,
        amp_dtype=loaded.amp_dtype,
        batch_size=1,
    )
    picture = to_image(outputs[0])
    if picture.size != full.size:
        picture = picture.resize(full.size, Image.Resampling.BILINEAR)
    return picture


def _output_path(out_dir: Path, source: Path, protected: set[Path], taken: set[Path]) -> Path:
    """`out_dir/<stem>.dehazed.png`, numbered when that would hit an input or an earlier
    output of this call (same stem in two folders); earlier calls' outputs are replaced."""
    number = 1
    while True:
        suffix = OUTPUT_SUFFIX if number == 1 else f"-{number}{OUTPUT_SUFFIX}"
        target = out_dir / f"{source.stem}{suffix}"
        resolved = target.resolve()
        if resolved not in protected and resolved not in taken:
            taken.add(resolved)
            return target
        number += 1
