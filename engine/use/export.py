"""`export`: a trained run as a file other programs load — ONNX, TorchScript, a
`torch.export` program, or a plain state dict — each verified after writing.

What is exported is `deploy.InferenceModel`: images in [0, 1] at the run's size in, the
run's normalisation and TTA inside, scores (or dehazed images) out. After writing, the file
is loaded back (ONNX through onnxruntime when the `export` extra is installed) and run on a
real batch of the run's test images; its outputs must equal the torch model's within
`TOLERANCE`, and the check is reported. A sidecar `<file>.json` says what goes in and out.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from engine.datasets.augment import to_float
from engine.errors import CnnlabError, DatasetError
from engine.models import create_model
from engine.runs.files import write_json_atomic
from engine.use.deploy import InferenceModel, torch_equivalent
from engine.use.loading import LoadedRun
from engine.use.records import EXPORT_FORMATS, EXPORT_TOLERANCE, ONNX_OPSET

FORMATS = EXPORT_FORMATS
EXTENSIONS = {
    "onnx": ".onnx",
    "torchscript": ".torchscript.pt",
    "export": ".pt2",
    "state-dict": ".state.pt",
}
TOLERANCE = EXPORT_TOLERANCE
SAMPLE_IMAGES = 8


@dataclass
class Check:
    """One comparison of two implementations on the same batch."""

    what: str
    max_abs_diff: float | None  # None: not run (say why in `note`)
    tolerance: float = TOLERANCE
    note: str = ""

    @property
    def passed(self) -> bool | None:
        return None if self.max_abs_diff is None else self.max_abs_diff <= self.tolerance

    def text(self) -> str:
        if self.max_abs_diff is None:
            return f"{self.what}: not checked ({self.note})"
        verdict = "equal" if self.passed else "DIFFERENT"
        return (
            f"{self.what}: max |Δ| = {self.max_abs_diff:.2e} ({verdict} within {self.tolerance:g})"
        )


@dataclass
class ExportResult:
    path: Path
    sidecar: Path
    format: str
    batch: str  # what the checks ran on
    opset: int | None = None
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def default_path(loaded: LoadedRun, fmt: str) -> Path:
    return Path(f"{loaded.run_id}{EXTENSIONS[fmt]}")


def export_run(loaded: LoadedRun, fmt: str, out: Path | str | None = None) -> ExportResult:
    """Write `loaded` as `fmt` to `out` (default `./<run id><extension>`) and verify it."""
    if fmt not in FORMATS:
        raise CnnlabError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    path = _target(loaded, fmt, out)
    model = loaded.model if loaded.device.type == "cpu" else copy.deepcopy(loaded.model).cpu()
    model.eval()
    batch, batch_text = sample_batch(loaded)
    result = ExportResult(path, Path(f"{path}.json"), fmt, batch_text, notes=list(loaded.notes))
    reference = InferenceModel(model, loaded.preprocessing).eval()
    with torch.no_grad():
        expected = reference(batch)
    if fmt == "state-dict":
        _write(path, lambda temp: _save_state_dict(loaded, model, temp))
        result.checks.append(
            Check(
                "state dict reloaded into a new model vs the run's model",
                _diff(_reload_state_dict(loaded, path)(batch), expected),
            )
        )
    else:
        plain, replaced = torch_equivalent(model)
        module = InferenceModel(plain, loaded.preprocessing).eval()
        if replaced:
            with torch.no_grad():
                diff = _diff(module(batch), expected)
            result.checks.append(
                Check(
                    f"{replaced} hand-written conv layer(s) as nn.Conv2d "
                    "with the same weights vs engine.ops",
                    diff,
                )
            )
            result.notes.append(
                "the hand-written MyConv2d layers are exported as nn.Conv2d with the same "
                "weights (engine.ops.conv2d is Python no exporter can trace)"
            )
        _EXPORTERS[fmt](module, batch, path, loaded.task, result)
        result.checks.append(_verify(fmt, path, batch, expected))
    _fail_on_mismatch(result)
    write_json_atomic(result.sidecar, _sidecar(loaded, result))
    return result


def _target(loaded: LoadedRun, fmt: str, out: Path | str | None) -> Path:
    """The file to write: `out`, or the default name inside `out` when it is a folder
    (existing, or written with a trailing slash)."""
    if out is None:
        path = default_path(loaded, fmt)
    elif Path(out).is_dir() or str(out).endswith(("/", os.sep)):
        path = Path(out) / default_path(loaded, fmt).name
    else:
        path = Path(out)
    if fmt == "export" and path.suffix != ".pt2":
        path = path.with_name(path.name + ".pt2")  # torch.export.load insists on it
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CnnlabError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def sample_batch(loaded: LoadedRun) -> tuple[torch.Tensor, str]:
    """Up to `SAMPLE_IMAGES` of the run's test images in [0, 1]; random images (said so)
    when the run's data cannot be read here."""
    try:
        bundle = loaded.run_data()
        images = bundle.test_x[:SAMPLE_IMAGES]
        if len(images):
            return to_float(images, "none"), f"{len(images)} test images of {bundle.name}"
    except DatasetError as exc:
        reason = str(exc)
    else:
        reason = "the run has no test images"
    size = loaded.config.image_size
    generator = torch.Generator().manual_seed(0)
    batch = torch.rand(SAMPLE_IMAGES, 3, size, size, generator=generator)
    return batch, f"{SAMPLE_IMAGES} random images ({reason})"


def _diff(actual: Any, expected: torch.Tensor) -> float:
    actual = torch.as_tensor(actual).detach().float()
    if actual.shape != expected.shape:
        raise CnnlabError(
            f"exported output shape {tuple(actual.shape)} is not the model's "
            f"{tuple(expected.shape)}"
        )
    return float((actual - expected).abs().max()) if expected.numel() else 0.0


def _write(path: Path, write) -> None:
    """`write(temp)` beside `path`, then rename over it: never a half-written export."""
    # Same stem and suffix: torch.export needs ".pt2", TorchScript names its archive by the stem.
    temp = path.with_name(f"{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        write(temp)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def _dynamic_shapes(task: str, batch: torch.Tensor) -> tuple[dict[int, Any], ...]:
    dims: dict[int, Any] = {0: torch.export.Dim("batch", min=1)}
    if task == "dehaze":  # fully convolutional: any size
        dims[2] = torch.export.Dim("height", min=8)
        dims[3] = torch.export.Dim("width", min=8)
    return (dims,)


def _export_onnx(module, batch, path: Path, task: str, result: ExportResult) -> None:
    result.opset = ONNX_OPSET
    output = "scores" if task == "classify" else "dehazed"

    def write(temp: Path) -> None:
        torch.onnx.export(
            module,
            (batch,),
            str(temp),
            dynamo=True,
            opset_version=ONNX_OPSET,
            input_names=["images"],
            output_names=[output],
            dynamic_shapes=_dynamic_shapes(task, batch),
            verbose=False,
            optimize=True,
        )

    # The exporter prints its steps and warns about every decomposition: keep the CLI quiet.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        _write(path, write)


def _export_torchscript(module, batch, path: Path, task: str, result: ExportResult) -> None:
    result.notes.append(
        "TorchScript (torch.jit.trace) is deprecated in torch 2.x; "
        "--format export writes the torch.export program that replaces it"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the deprecation and tracer notices
        traced = torch.jit.trace(module, batch)
    _write(path, lambda temp: traced.save(str(temp)))


def _export_program(module, batch, path: Path, task: str, result: ExportResult) -> None:
    program = torch.export.export(module, (batch,), dynamic_shapes=_dynamic_shapes(task, batch))
    _write(path, lambda temp: torch.export.save(program, str(temp)))


_EXPORTERS = {"onnx": _export_onnx, "torchscript": _export_torchscript, "export": _export_program}


@torch.no_grad()
def _verify(fmt: str, path: Path, batch: torch.Tensor, expected: torch.Tensor) -> Check:
    """The written file, loaded back and run on `batch`, against the torch model."""
    if fmt == "onnx":
        try:
            import onnxruntime
        except ImportError:
            return Check(
                "onnxruntime vs torch",
                None,
                note="onnxruntime is not installed: pip install 'cnnlab[export]'",
            )
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        outputs = session.run(None, {name: batch.numpy()})[0]
        return Check("onnxruntime vs torch", _diff(torch.from_numpy(outputs), expected))
    if fmt == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.load's deprecation notice
            loaded = torch.jit.load(str(path))
        return Check("torch.jit.load vs torch", _diff(loaded(batch), expected))
    program = torch.export.load(str(path)).module()
    return Check("torch.export.load vs torch", _diff(program(batch), expected))


def _save_state_dict(loaded: LoadedRun, model, temp: Path) -> None:
    torch.save(
        {
            "format": "cnnlab-state-dict",
            "run_id": loaded.run_id,
            "checkpoint": loaded.checkpoint,
            "epoch": loaded.epoch,
            "config": loaded.config.to_dict(),
            "classes": list(loaded.classes),
            "preprocessing": loaded.preprocessing.to_dict(),
            "model": model.state_dict(),
        },
        temp,
    )


def _reload_state_dict(loaded: LoadedRun, path: Path) -> InferenceModel:
    """What a user of the file would do: a fresh model from the config, then the weights."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    config = loaded.config
    extra = {"num_classes": len(state["classes"])} if loaded.task == "classify" else {}
    model = create_model(
        config.model, in_channels=3, image_size=config.image_size, **extra, **config.model_options
    )
    model.load_state_dict(state["model"])
    return InferenceModel(model.eval(), loaded.preprocessing).eval()


def _fail_on_mismatch(result: ExportResult) -> None:
    failed = [check for check in result.checks if check.passed is False]
    if failed:
        result.path.unlink(missing_ok=True)
        raise CnnlabError(
            "export removed: it does not reproduce the model: "
            + "; ".join(check.text() for check in failed)
        )


def _sidecar(loaded: LoadedRun, result: ExportResult) -> dict[str, Any]:
    pre = loaded.preprocessing
    size = pre.image_size
    shape: list[Any] = (
        ["batch", 3, size, size] if pre.task == "classify" else ["batch", 3, "height", "width"]
    )
    return {
        "run_id": loaded.run_id,
        "checkpoint": loaded.checkpoint,
        "epoch": loaded.epoch,
        "format": result.format,
        "file": result.path.name,
        "onnx_opset": result.opset,
        "input": {
            "name": "images",
            "shape": shape,
            "dtype": "float32",
            "values": "RGB in [0, 1]",
            "resize_before": f"{pre.resize} to {size}x{size} (bilinear, antialiased)"
            if pre.task == "classify"
            else f"any size (trained at {size}x{size})",
        },
        "output": (
            {
                "name": "scores",
                "shape": ["batch", len(loaded.classes)],
                "meaning": "logits" if pre.tta == "none" else "log of the mean softmax (TTA)",
                "classes": list(loaded.classes),
            }
            if pre.task == "classify"
            else {"name": "images", "shape": shape, "values": "RGB in [0, 1]"}
        ),
        "inside_the_graph": {
            "normalize": pre.normalize,
            "mean": pre.to_dict()["mean"],
            "std": pre.to_dict()["std"],
            "tta": pre.tta,
        },
        "checks": [
            {
                "what": c.what,
                "max_abs_diff": c.max_abs_diff,
                "tolerance": c.tolerance,
                "passed": c.passed,
                "note": c.note,
            }
            for c in result.checks
        ],
        "checked_on": result.batch,
        "notes": result.notes,
    }
