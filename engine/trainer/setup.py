"""Building a run's pieces from its config: data on the device, model, task, optimiser.

What a checkpoint holds is `checkpoint.py`'s; what a resumed run may change is `resume.py`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from engine.datasets.bundle import DatasetBundle
from engine.datasets.registry import load_dataset
from engine.errors import ConfigError
from engine.models import create_model, get_model_info
from engine.recipes.lookahead import Lookahead
from engine.trainer.config import TrainConfig
from engine.trainer.device import grad_scaler
from engine.trainer.epoch import Parts, train_batches
from engine.trainer.optim import build_optimizer, build_scheduler
from engine.trainer.tasks import ClassifyTask, DehazeTask, TrainingTask


@dataclass
class DeviceData:
    """The bundle's uint8 tensors moved to the training device once, for the whole run."""

    task: str
    classes: list[str]
    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    test_names: list[str] = field(default_factory=list)


def load_data(config: TrainConfig, progress=None) -> DatasetBundle:
    """Decode (or synthesise) the data set as the config asks."""
    return load_dataset(
        config.dataset,
        config.data_root,
        image_size=config.image_size,
        test_fraction=config.test_fraction,
        val_fraction=config.val_fraction,
        seed=config.seed,
        progress=progress,
        resize=config.resize,
    )


def bundle_messages(bundle: DatasetBundle, shown: int = 10) -> list[tuple[str, str]]:
    """(level, message) lines that tell what was loaded and which files were skipped."""
    sizes = bundle.split_sizes()
    lines = [
        (
            "info",
            f"data: {bundle.name} from {bundle.source or 'built-in'}: "
            f"{sizes['train']} train / {sizes['val']} val / {sizes['test']} test",
        )
    ]
    lines += [("warning", f"skipped {name}: {reason}") for name, reason in bundle.skipped[:shown]]
    if len(bundle.skipped) > shown:
        lines.append(("warning", f"… and {len(bundle.skipped) - shown} more skipped files"))
    lines += [("warning", text) for text in bundle.warnings]
    return lines


def to_device(bundle: DatasetBundle, device: torch.device) -> DeviceData:
    """Move the whole data set to `device` once when it fits (as airbench does), so batches
    are index slices with augmentation on the device; otherwise keep it in pinned host
    memory and move each batch (`batch_to`)."""
    fits = data_fits(bundle, device)  # only a CUDA device can say no

    def move(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if fits:
            return x.to(device), y.to(device)
        return x.pin_memory(), y.pin_memory()

    return DeviceData(
        task=bundle.task,
        classes=list(bundle.classes),
        train=move(bundle.train_x, bundle.train_y),
        val=move(bundle.val_x, bundle.val_y),
        test=move(bundle.test_x, bundle.test_y),
        test_names=list(bundle.test_names),
    )


# Share of the free GPU memory the uint8 data set may take; the rest is for the model.
DATA_MEMORY_SHARE = 0.4


def data_fits(bundle: DatasetBundle, device: torch.device) -> bool:
    """Whether the data set's tensors fit on `device` beside training (always on CPU/MPS)."""
    if device.type != "cuda":
        return True
    tensors = (bundle.train_x, bundle.train_y, bundle.val_x, bundle.val_y, bundle.test_x)
    needed = sum(t.numel() * t.element_size() for t in (*tensors, bundle.test_y))
    free, _ = torch.cuda.mem_get_info(device)
    return needed <= DATA_MEMORY_SHARE * free


def build_model(config: TrainConfig, bundle: DatasetBundle, device: torch.device) -> nn.Module:
    """The configured model for this data set, on `device` (seed the RNG before calling)."""
    info = get_model_info(config.model)
    if info.task != bundle.task:
        raise ConfigError(
            {
                "model": f"{config.model} is a {info.task} model but {bundle.name} is a "
                f"{bundle.task} data set"
            }
        )
    extra = {"num_classes": len(bundle.classes)} if bundle.task == "classify" else {}
    model = create_model(
        config.model,
        in_channels=3,
        image_size=config.image_size,
        **extra,
        **config.model_options,
    )
    return model.to(device)


def build_task(
    config: TrainConfig, bundle: DatasetBundle, test_images: torch.Tensor | None = None
) -> TrainingTask:
    """The task; `test_images` (uint8, on the training device) are the unlabelled images
    `fourier_style` takes its styles from."""
    if bundle.task == "dehaze":
        return DehazeTask(config.augmentation, config.train_crop)
    return ClassifyTask(
        len(bundle.classes),
        config.normalize,
        config.augmentation,
        bundle.mean,
        bundle.std,
        label_smoothing=config.label_smoothing,
        lighting=config.lighting,
        fourier_style=config.fourier_style,
        style_pool=test_images if config.fourier_style > 0 else None,
    )


def build_parts(
    config: TrainConfig,
    model: nn.Module,
    task: TrainingTask,
    data: DeviceData,
    device: torch.device,
    amp_dtype: torch.dtype | None,
) -> Parts:
    """Optimiser, schedule, loss scaler and seeded generators (no optimiser if untrainable).

    The batches per epoch are counted here, once: the schedule is planned for them and every
    epoch trains exactly that many (a pool grown by pseudo-labels included; with
    `crops_per_image` = k, each pair is drawn k times, each time with its own crop)."""
    optimizer = scheduler = lookahead = None
    examples = len(data.train[0]) * config.crops_per_image
    per_epoch = train_batches(examples, config.batch_size, config.max_train_batches)
    if getattr(model, "trainable", True):
        optimizer = build_optimizer(model, config)
        scheduler = build_scheduler(optimizer, config.scheduler, per_epoch * config.epochs)
        if config.lookahead:
            lookahead = Lookahead(model, per_epoch * config.epochs)
    augment_generator = torch.Generator(device=device).manual_seed(config.seed + 1)
    return Parts(
        model=model,
        task=task,
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=grad_scaler(device, amp_dtype),
        device=device,
        amp_dtype=amp_dtype,
        batch_size=config.batch_size,
        batches_per_epoch=per_epoch,
        shuffle_generator=torch.Generator().manual_seed(config.seed),
        augment_generator=augment_generator,
        tta=config.tta,
        bn_adapt=config.bn_adapt,
        lookahead=lookahead,
    )
