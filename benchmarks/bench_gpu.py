"""CIFAR-10 on a GPU: training throughput per model and speed setting, and `cifar10-fast`.

    python benchmarks/bench_gpu.py --data-root data/cifar10              # everything
    python benchmarks/bench_gpu.py --data-root data/cifar10 --only speed --epochs 4
    python benchmarks/bench_gpu.py --data-root data/cifar10 --only recipes

Every row is a real `engine.trainer.Trainer` run (data decoded once and kept on the GPU,
augmentation on the GPU, evaluation every epoch), so the numbers are what a user's run
gets, not a bare kernel loop.

* speed: images/s of the training pass (median over the epochs after the first, which
  pays for cuDNN autotuning and compilation) for `conv`, `dilated` and `resnet18`, in float32
  (TF32), bfloat16 autocast + channels-last, and that plus `torch.compile`; `conv` also with
  the hand-written `engine.ops` convolution.
* recipes: `cifar10-fast` as the preset stands, plus larger variants, each with its test
  accuracy (final epoch, flip TTA as the preset says) and `train_seconds`.

Runs on the CPU too (`--device cpu --quick`), which is how it is tested before a GPU is lent.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from _harness import format_table, machine_header

from engine.events import EpochEnd, Log
from engine.presets import get_preset
from engine.trainer.config import TrainConfig
from engine.trainer.loop import Trainer

REPO = Path(__file__).resolve().parents[1]

SPEED_MODELS = (
    ("conv", {}),
    ("conv", {"conv_impl": "hand"}),
    ("dilated", {}),
    ("resnet18", {}),
)
SETTINGS = {
    "fp32": {},  # TF32 tensor cores are on for float32 layers (engine.trainer.device)
    "bf16+NHWC": {"amp": True, "channels_last": True},
    "bf16+NHWC+compile": {"amp": True, "channels_last": True, "compile": True},
}
# (label, preset overrides): the preset as it stands, then bigger nets that a GPU affords.
RECIPE_VARIANTS = (
    ("cifar10-fast (preset)", {}),
    ("cifar10-fast, 8 epochs", {"epochs": 8}),
    ("cifar10-fast without lookahead", {"lookahead": False}),
)
GPU_SPEED = {"amp": True, "channels_last": True}


@dataclass
class Measured:
    label: str
    status: str
    images_per_second: float
    first_epoch_seconds: float
    train_seconds: float
    test_acc: float
    wall_seconds: float
    note: str = ""


def train(config: TrainConfig, runs_dir: Path, label: str) -> Measured:
    """One Trainer run; throughput from the epochs after the first."""
    rows: list[dict] = []
    errors: list[str] = []

    def on_event(event) -> None:
        if isinstance(event, EpochEnd):
            rows.append(event.metrics)
        elif isinstance(event, Log) and event.level == "error":
            errors.append(event.message.splitlines()[0])

    trainer = Trainer(config, runs_dir=runs_dir)
    trainer.subscribe(on_event)
    start = time.perf_counter()
    status = trainer.run()
    wall = time.perf_counter() - start
    later = [r["images_per_second"] for r in rows[1:]] or [r["images_per_second"] for r in rows]
    summary = trainer.summary or {}
    final = summary.get("final") or {}
    measured = Measured(
        label=label,
        status=status,
        images_per_second=statistics.median(later) if later else float("nan"),
        first_epoch_seconds=float(rows[0]["seconds"]) if rows else float("nan"),
        train_seconds=float(summary.get("train_seconds") or float("nan")),
        test_acc=float(final.get("test_acc", float("nan"))),
        wall_seconds=wall,
        note=errors[0] if errors else "",
    )
    print(f"  {label}: {status}, {measured.images_per_second:,.0f} img/s", file=sys.stderr)
    return measured


def speed_table(args: argparse.Namespace, runs_dir: Path) -> str:
    rows = []
    for model, options in SPEED_MODELS:
        name = model + (" (hand-written conv)" if options.get("conv_impl") == "hand" else "")
        for setting, fields in SETTINGS.items():
            if "compile" in setting and (args.no_compile or options):
                continue
            config = TrainConfig(
                dataset="cifar10",
                data_root=str(args.data_root),
                model=model,
                model_options=dict(options),
                image_size=32,
                epochs=args.epochs,
                batch_size=args.batch_size,
                augmentation="crop_flip",
                device=args.device,
                max_train_batches=args.max_batches,
                **fields,
            )
            m = train(config, runs_dir, f"{name} {setting}")
            rows.append(
                [
                    name,
                    setting,
                    m.status if m.status != "completed" else f"{m.images_per_second:,.0f}",
                    f"{m.first_epoch_seconds:.2f}",
                    f"{m.test_acc:.3f}",
                ]
            )
            if m.note:
                rows[-1][2] += f" ({m.note[:60]})"
    headers = ["model", "setting", "train img/s", "epoch 1 s", "test acc"]
    return (
        f"training throughput, CIFAR-10 32 px, batch {args.batch_size}, crop+flip on the "
        f"device, {args.epochs} epochs (img/s: median of epochs 2+)\n" + format_table(headers, rows)
    )


def recipe_table(args: argparse.Namespace, runs_dir: Path) -> str:
    rows = []
    preset = get_preset("cifar10-fast")
    for label, changes in RECIPE_VARIANTS:
        extra = {"max_train_batches": args.max_batches}
        if args.quick:  # small batches too: the trainer's resource check runs a probe batch
            extra.update(epochs=2, batch_size=16)
        speed = GPU_SPEED if args.device.startswith("cuda") else {}
        fields = {"data_root": str(args.data_root), "device": args.device, **speed}
        config = preset.to_config(**{**fields, **changes, **extra})
        m = train(config, runs_dir, label)
        rows.append(
            [
                label,
                m.status,
                f"{m.test_acc:.4f}",
                f"{m.train_seconds:.1f}",
                f"{m.wall_seconds:.1f}",
            ]
        )
    headers = ["recipe", "status", "final test acc", "train_seconds", "wall s"]
    speed_note = "bf16 + channels-last" if args.device.startswith("cuda") else "float32"
    return f"cifar10-fast and variants ({speed_note}; flip TTA)\n" + format_table(headers, rows)


def device_header(device: str) -> str:
    if not device.startswith("cuda"):
        return "device: cpu"
    props = torch.cuda.get_device_properties(torch.device(device))
    return (
        f"GPU: {props.name}, {props.total_memory / 2**30:.0f} GiB, "
        f"{props.multi_processor_count} SMs; CUDA {torch.version.cuda}, "
        f"cuDNN {torch.backends.cudnn.version()}"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=REPO / "data" / "cifar10")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per throughput row (≥ 2)")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--only", choices=("speed", "recipes"), default=None)
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    parser.add_argument("--quick", action="store_true", help="a few batches per epoch (testing)")
    args = parser.parse_args(argv)
    if not args.data_root.is_dir():
        parser.error(f"no CIFAR-10 data at {args.data_root} (pass --data-root)")
    if args.epochs < 2:
        parser.error("--epochs must be ≥ 2 (the first epoch is warm-up)")
    args.max_batches = 3 if args.quick else None
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(machine_header("cnnlab bench_gpu: CIFAR-10 training on the device"))
    print(device_header(args.device), flush=True)
    with tempfile.TemporaryDirectory(prefix="cnnlab-gpu-") as scratch:
        runs_dir = Path(scratch) / "runs"
        if args.only in (None, "speed"):
            print("\n" + speed_table(args, runs_dir), flush=True)
        if args.only in (None, "recipes"):
            print("\n" + recipe_table(args, runs_dir), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
