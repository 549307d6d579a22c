"""A trained run, loaded for use: config, checkpoint (best or last), model in eval mode on a
device, and the exact preprocessing it trained with.

The preprocessing is the run's own: image size, resize mode, normalisation and its
statistics, test-time augmentation and BatchNorm adaptation. The statistics of
`normalize="dataset"` are stored in the checkpoint from now on; a run saved before that
has them recomputed from its training data (the same decode and split give the same
numbers), and the loaded run says which it used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.datasets.augment import to_float
from engine.datasets.bundle import DatasetBundle
from engine.errors import RunStoreError
from engine.models import create_model, get_model_info
from engine.runs import RunRecord, RunStore, read_run
from engine.trainer.accelerate import accelerate
from engine.trainer.checkpoint import BEST, LAST, load_checkpoint
from engine.trainer.config import TrainConfig
from engine.trainer.device import amp_dtype, device_label, grad_scaler, resolve_device
from engine.trainer.epoch import Parts
from engine.trainer.setup import load_data
from engine.trainer.tasks import ClassifyTask, DehazeTask

CHECKPOINTS = ("best", "last")
_FILES = {"best": BEST, "last": LAST}


@dataclass(frozen=True)
class Preprocessing:
    """How the run turned a decoded uint8 image into the model's input."""

    task: str
    image_size: int
    resize: str
    normalize: str  # dehazing always feeds [0, 1] ("none")
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    tta: str
    bn_adapt: bool
    stats_source: str  # "checkpoint", "recomputed from the training data" or "not needed"

    def inputs(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, 3, H, W) → the float batch the model was trained on."""
        return to_float(images, self.normalize, mean=self.mean, std=self.std)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "image_size": self.image_size,
            "resize": self.resize,
            "normalize": self.normalize,
            "mean": list(self.mean) if self.mean else None,
            "std": list(self.std) if self.std else None,
            "tta": self.tta,
            "bn_adapt": self.bn_adapt,
            "stats_source": self.stats_source,
        }

    def text(self) -> str:
        """One line for a person: what every input goes through."""
        words = [f"{self.image_size}×{self.image_size} px ({self.resize})"]
        if self.normalize == "dataset" and self.mean and self.std:
            mean = ", ".join(f"{v:.3f}" for v in self.mean)
            std = ", ".join(f"{v:.3f}" for v in self.std)
            words.append(f"normalised by the training set's mean ({mean}) / std ({std})")
        else:
            words.append(f"normalize={self.normalize}")
        if self.tta != "none":
            words.append(f"test-time augmentation {self.tta}")
        return ", ".join(words)


@dataclass
class LoadedRun:
    """A run ready to use. `notes` are facts a caller should state (stats recomputed, BN
    adaptation, another device than the run's)."""

    record: RunRecord
    config: TrainConfig
    model: nn.Module
    device: torch.device
    amp_dtype: torch.dtype | None
    checkpoint: str  # "best", "last", or "none" for a training-free model
    epoch: int | None
    classes: list[str]
    preprocessing: Preprocessing
    notes: list[str] = field(default_factory=list)
    _data: DatasetBundle | None = None

    @property
    def run_id(self) -> str:
        return self.record.run_id

    @property
    def run_dir(self) -> Path:
        return self.record.path

    @property
    def task(self) -> str:
        return self.preprocessing.task

    def run_data(self, progress=None) -> DatasetBundle:
        """The run's own data set (decoded once, then kept)."""
        if self._data is None:
            self._data = load_data(self.config, progress=progress)
        return self._data

    def parts(self) -> Parts:
        """What `engine.trainer.evaluation.evaluate` needs, as the run evaluated itself:
        its batch size, TTA, BN adaptation and mixed precision."""
        pre = self.preprocessing
        if pre.task == "classify":
            task: Any = ClassifyTask(len(self.classes), pre.normalize, "none", pre.mean, pre.std)
        else:
            task = DehazeTask("none")
        return Parts(
            model=self.model,
            task=task,
            optimizer=None,
            scheduler=None,
            scaler=grad_scaler(self.device, self.amp_dtype),
            device=self.device,
            amp_dtype=self.amp_dtype,
            batch_size=self.config.batch_size,
            batches_per_epoch=0,  # evaluation only: no training epoch
            shuffle_generator=torch.Generator(),
            augment_generator=torch.Generator(device=self.device),
            tta=pre.tta,
            bn_adapt=pre.bn_adapt,
        )

    def describe(self) -> str:
        """'run X, best checkpoint (epoch 7), on cpu'."""
        which = f"{self.checkpoint} checkpoint (epoch {self.epoch})"
        if self.checkpoint == "none":
            which = "no checkpoint (training-free)"
        return f"{self.run_id}, {which}, on {device_label(self.device)}"


def load_run(
    ref: str | Path,
    runs_dir: Path | str | None = None,
    *,
    checkpoint: str = "best",
    device: str = "auto",
    progress=None,
) -> LoadedRun:
    """Load run `ref` (id, unique part of an id, folder or `latest`) for use.

    `RunStoreError` when the run or its checkpoint cannot be used; `DatasetError` when an
    old run's normalisation statistics must be recomputed and its data cannot be read.
    """
    if checkpoint not in CHECKPOINTS:
        raise RunStoreError(
            f"checkpoint must be one of {', '.join(CHECKPOINTS)}, not {checkpoint!r}"
        )
    record = read_run(RunStore(runs_dir).resolve(str(ref)))
    if not record.config:
        raise RunStoreError(f"run {record.run_id} has no readable config.json")
    config = TrainConfig.from_dict(record.config)
    torch_device = resolve_device(device)
    task = get_model_info(config.model).task
    classes = list(record.summary.get("classes") or [])
    notes: list[str] = []
    loaded = LoadedRun(
        record=record,
        config=config,
        model=nn.Identity(),
        device=torch_device,
        amp_dtype=amp_dtype(torch_device, config.amp),
        checkpoint="none",
        epoch=None,
        classes=classes,
        preprocessing=_placeholder(config, task),
        notes=notes,
    )
    if task == "classify" and not classes:
        loaded.classes = classes = list(loaded.run_data(progress).classes)
    model = _build(config, task, len(classes))
    state = _read_state(record, model, checkpoint)
    if state is not None:
        model.load_state_dict(state["model"])
        loaded.checkpoint, loaded.epoch = checkpoint, int(state["epoch"])
    loaded.preprocessing = _preprocessing(loaded, state, task, progress)
    accelerate(model, channels_last=config.channels_last, compile_model=False)
    loaded.model = model.to(torch_device).eval()
    notes.extend(_notes(loaded))
    return loaded


def _placeholder(config: TrainConfig, task: str) -> Preprocessing:
    return Preprocessing(
        task, config.image_size, config.resize, "none", None, None, "none", False, "not needed"
    )


def _build(config: TrainConfig, task: str, num_classes: int) -> nn.Module:
    extra = {"num_classes": num_classes} if task == "classify" else {}
    return create_model(
        config.model,
        in_channels=3,
        image_size=config.image_size,
        **extra,
        **config.model_options,
    )


def _read_state(record: RunRecord, model: nn.Module, checkpoint: str) -> dict[str, Any] | None:
    """The checkpoint's state, or None for a training-free model (nothing to load)."""
    if not getattr(model, "trainable", True):
        return None
    path = record.path / _FILES[checkpoint]
    if not path.is_file():
        raise RunStoreError(
            f"run {record.run_id} has no {path.name}: it finished no epoch"
            + (
                " (try --checkpoint last)"
                if checkpoint == "best" and (record.path / LAST).is_file()
                else ""
            )
        )
    return load_checkpoint(path)


def _preprocessing(
    loaded: LoadedRun, state: dict[str, Any] | None, task: str, progress
) -> Preprocessing:
    config = loaded.config
    normalize = config.normalize if task == "classify" else "none"
    mean = std = None
    source = "not needed"
    if normalize == "dataset":
        stats = (state or {}).get("normalization")
        if stats:
            mean, std, source = tuple(stats["mean"]), tuple(stats["std"]), "checkpoint"
        else:
            bundle = loaded.run_data(progress)
            mean, std = tuple(bundle.mean), tuple(bundle.std)
            source = "recomputed from the training data"
    return Preprocessing(
        task,
        config.image_size,
        config.resize,
        normalize,
        mean,
        std,
        config.tta,
        config.bn_adapt,
        source,
    )


def _notes(loaded: LoadedRun) -> list[str]:
    notes = []
    pre = loaded.preprocessing
    if pre.stats_source.startswith("recomputed"):
        notes.append(
            "this run was saved before cnnlab recorded its normalisation statistics: "
            "they were recomputed from its training data"
        )
    if loaded.record.status == "running":
        notes.append(f"the run is still training: using its checkpoint of epoch {loaded.epoch}")
    trained_on = str(loaded.record.summary.get("device") or "")
    if trained_on and trained_on.split(":")[0].split()[0] != loaded.device.type:
        notes.append(
            f"trained on {trained_on}, used on {device_label(loaded.device)}: "
            "figures may differ in the last digits"
        )
    return notes
