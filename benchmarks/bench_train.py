"""Seconds per epoch: the lab's own training recipe against cnnlab's engine, same data and model.

    .venv/bin/python benchmarks/bench_train.py                 # 3 epochs each, vehicles, 32 px
    .venv/bin/python benchmarks/bench_train.py --epochs 3 --rounds 2 --hand --threads 2
    .venv/bin/python benchmarks/bench_train.py --data-root /path/to/vehicles
    python benchmarks/bench_train.py --device cuda             # both recipes on the GPU

The lab's recipe is torchvision `ImageFolder` + per-image PIL transforms (resize, ToTensor,
Normalize) + `DataLoader(num_workers=0)`, the lab's `ConvModule`, Adam (lr 1e-3), batch 64,
its `train_epoch`/`test_epoch` loops. cnnlab runs `engine.trainer.Trainer` with
`TrainConfig(dataset="vehicles", model="conv", batch_size=64, image_size=32)`. Both use the
lab's split (the last 25 % of each class is the test set) and the same thread count, one
after the other in this process (`--rounds` repeats the sequence, so the medians see
the same load drifts). An epoch is one training pass plus one test pass (cnnlab's
also writes its metrics and checkpoint). cnnlab's one-time decode is printed on its own and
kept out of the epochs; by default it decodes into a fresh cache folder so that it is a
real decode, not a cache hit (`--keep-cache` uses the normal cache).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from _harness import format_table, machine_header, set_threads
from torch import nn
from torch.nn import functional as F

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "vehicles"
TEST_FRACTION = 0.25  # the lab: "the last 20-30 % of each class"


@dataclass
class RunTimes:
    """What one recipe measured: per-epoch seconds and the final test accuracy."""

    name: str
    epoch_seconds: list[float] = field(default_factory=list)
    train_seconds: list[float] = field(default_factory=list)
    test_acc: float = float("nan")
    setup_seconds: float = 0.0
    note: str = ""

    def merge(self, later: RunTimes) -> RunTimes:
        """This recipe's epochs plus those of a later round (setup and note stay the first's)."""
        self.epoch_seconds += later.epoch_seconds
        self.train_seconds += later.train_seconds
        return self

    @property
    def per_epoch(self) -> float:
        return statistics.median(self.epoch_seconds) if self.epoch_seconds else float("nan")


# ------------------------------------------------------------------ the lab's recipe


class ConvModule(nn.Module):
    """The lab's `ConvModule`, as written in the course slides (3 convs, BN, ReLU)."""

    def __init__(self, num_classes: int = 3):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(3, 32, kernel_size=3, stride=1, padding=0),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, kernel_size=3, stride=1, padding=0),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.Conv2d(64, 128, kernel_size=3, stride=1, padding=0),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
        )
        self.fc = nn.Linear(128, num_classes)

    def forward(self, x):
        out = self.conv(x)
        out = F.avg_pool2d(out, out.shape[-1])  # the lab's avg_pool2d(out, 26) at 32 px
        return self.fc(out.squeeze())


def lab_split(root: Path) -> tuple[list[str], list[str]]:
    """(train, test) relative paths: each class sorted naturally, its last 25 % for testing
    (the split cnnlab's `vehicles` data set makes, so both recipes see the same images)."""
    from engine.datasets.split import natural_key, split_counts

    train, test = [], []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted((f.name for f in class_dir.iterdir() if f.is_file()), key=natural_key)
        n_train, _, _ = split_counts(len(files), TEST_FRACTION)
        train += [f"{class_dir.name}/{f}" for f in files[:n_train]]
        test += [f"{class_dir.name}/{f}" for f in files[n_train:]]
    return train, test


def _lab_loaders(root: Path, image_size: int, batch_size: int):
    import torchvision
    from torchvision import transforms

    transform = transforms.Compose(
        [
            transforms.Resize((image_size, image_size)),  # "stretch every image to one size"
            transforms.ToTensor(),
            transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
        ]
    )
    folder = torchvision.datasets.ImageFolder(str(root), transform=transform)
    train_names, test_names = (set(s) for s in lab_split(root))
    relative = [Path(path).relative_to(root).as_posix() for path, _ in folder.samples]
    train_idx = [i for i, r in enumerate(relative) if r in train_names]
    test_idx = [i for i, r in enumerate(relative) if r in test_names]
    subset = torch.utils.data.Subset
    loader = torch.utils.data.DataLoader
    return (
        loader(subset(folder, train_idx), batch_size=batch_size, shuffle=True, num_workers=0),
        loader(subset(folder, test_idx), batch_size=batch_size, shuffle=True, num_workers=0),
        len(folder.classes),
    )


def _lab_epoch(net, loader, criterion, optimizer=None, device="cpu") -> tuple[float, float]:
    """The lab's train_epoch / test_epoch (loss.item() and argmax every batch)."""
    net.train(optimizer is not None)
    total_loss, correct, seen = 0.0, 0, 0
    with torch.set_grad_enabled(optimizer is not None):
        for data, target in loader:
            data, target = data.to(device).float(), target.to(device).long()
            if optimizer is not None:
                optimizer.zero_grad()
            output = net(data)
            loss = criterion(output, target)
            if optimizer is not None:
                loss.backward()
                optimizer.step()
            total_loss += loss.item()
            correct += (torch.argmax(output, 1) == target).sum().item()
            seen += len(target)
    return total_loss / len(loader), correct / seen


def run_lab(
    root: Path, epochs: int, image_size: int, batch_size: int, seed: int, device: str = "cpu"
) -> RunTimes:
    torch.manual_seed(seed)
    start = time.perf_counter()
    train_loader, test_loader, num_classes = _lab_loaders(root, image_size, batch_size)
    net = ConvModule(num_classes).to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    times = RunTimes("lab recipe (ImageFolder + PIL + DataLoader)")
    times.setup_seconds = time.perf_counter() - start
    times.note = "decodes every image every epoch"
    for _ in range(epochs):
        began = time.perf_counter()
        _lab_epoch(net, train_loader, criterion, optimizer, device)
        trained = time.perf_counter()
        _, times.test_acc = _lab_epoch(net, test_loader, criterion, device=device)
        times.train_seconds.append(trained - began)
        times.epoch_seconds.append(time.perf_counter() - began)
    return times


# ------------------------------------------------------------------ cnnlab's engine


def run_cnnlab(
    root: Path,
    epochs: int,
    image_size: int,
    batch_size: int,
    seed: int,
    conv_impl: str,
    runs,
    device: str = "cpu",
) -> RunTimes:
    from engine.events import EpochEnd, RunStarted
    from engine.trainer.config import TrainConfig
    from engine.trainer.loop import Trainer

    config = TrainConfig(
        dataset="vehicles",
        data_root=str(root),
        model="conv",
        model_options={"conv_impl": conv_impl},
        batch_size=batch_size,
        image_size=image_size,
        epochs=epochs,
        seed=seed,
        device=device,
    )
    label = "torch conv" if conv_impl == "torch" else "hand-written engine.ops conv"
    times = RunTimes(f"cnnlab engine ({label})")
    marks: list[float] = []

    def on_event(event) -> None:
        now = time.perf_counter()
        if isinstance(event, RunStarted):
            times.setup_seconds = now - start
            times.note = f"{event.num_train} train / {event.num_test} test images"
            marks.append(now)
        elif isinstance(event, EpochEnd):
            times.epoch_seconds.append(now - marks[-1])
            times.train_seconds.append(float(event.metrics["seconds"]))
            times.test_acc = float(event.metrics["test_acc"])
            marks.append(now)

    trainer = Trainer(config, runs_dir=runs)
    trainer.subscribe(on_event)
    start = time.perf_counter()
    status = trainer.run()
    if status != "completed":
        raise SystemExit(f"cnnlab run ended {status}: {trainer.summary}")
    return times


# ------------------------------------------------------------------ the floor


def model_floor(
    num_train: int, num_test: int, batch_size: int, image_size: int, device: str, repeats: int = 3
) -> float:
    """Seconds per epoch of the model's own arithmetic: the lab's training and test loops on
    ready-made tensors, with no data path at all. No pipeline can beat this; lab / floor is
    the largest speed-up that a better data path could ever give."""
    torch.manual_seed(0)
    net = ConvModule(3).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    criterion = nn.CrossEntropyLoss()
    x = torch.randn(batch_size, 3, image_size, image_size, device=device)
    y = torch.randint(0, 3, (batch_size,), device=device)
    train_steps, test_steps = math.ceil(num_train / batch_size), math.ceil(num_test / batch_size)

    def epoch() -> None:
        net.train()
        for _ in range(train_steps):
            optimizer.zero_grad()
            criterion(net(x), y).backward()
            optimizer.step()
        net.eval()
        with torch.no_grad():
            for _ in range(test_steps):
                net(x)
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    epoch()  # warm-up
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        epoch()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


# ------------------------------------------------------------------ report


def report(results: list[RunTimes], epochs: int) -> str:
    lab = results[0]
    rows = []
    for r in results:
        speedup = lab.per_epoch / r.per_epoch if r is not lab else 1.0
        rows.append(
            [
                r.name,
                f"{r.setup_seconds:.2f}",
                f"{r.per_epoch:.2f}",
                f"{statistics.median(r.train_seconds):.2f}",
                f"{r.test_acc:.3f}",
                f"{speedup:.1f}x",
            ]
        )
    headers = ["recipe", "setup s", "s/epoch", "train s", "test acc", "vs lab"]
    lines = [format_table(headers, rows)]
    lines.append(
        f"s/epoch: median over {epochs} epoch(s) of one train pass + one test pass; "
        "setup: loaders/model (lab) or the one-time decode + model (cnnlab)"
    )
    for r in results:
        if r.note:
            lines.append(f"  {r.name}: {r.note}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA, help="vehicles folder")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per recipe (≥ 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads for all")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=1, help="repeat all recipes, alternating")
    parser.add_argument("--hand", action="store_true", help="also run cnnlab with conv_impl=hand")
    parser.add_argument("--quick", action="store_true", help="one epoch each")
    parser.add_argument("--device", default="cpu", help="cpu or cuda: where both recipes run")
    parser.add_argument(
        "--keep-cache", action="store_true", help="use the normal decode cache (may be a hit)"
    )
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.rounds < 1:
        parser.error(f"--epochs and --rounds must be ≥ 1, got {args.epochs}, {args.rounds}")
    if args.quick:
        args.epochs = 1
    if not args.data_root.is_dir():
        parser.error(f"no vehicles data at {args.data_root} (pass --data-root)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    set_threads(args.threads)
    print(machine_header("cnnlab bench_train: seconds per epoch, lab recipe vs cnnlab engine"))
    print(
        f"data {args.data_root}, 32 px, batch 64, model conv, Adam 1e-3, {args.epochs} epochs, "
        f"device {args.device}"
    )
    with tempfile.TemporaryDirectory(prefix="cnnlab-bench-") as scratch:
        if not args.keep_cache:
            os.environ["CNNLAB_CACHE"] = str(Path(scratch) / "cache")
        runs = Path(scratch) / "runs"
        results: list[RunTimes] = []
        for round_ in range(args.rounds):  # A B A B …: load drifts hit every recipe alike
            recipes = [run_lab(args.data_root, args.epochs, 32, 64, args.seed, args.device)]
            for impl in ["torch", "hand"] if args.hand else ["torch"]:
                times = run_cnnlab(
                    args.data_root, args.epochs, 32, 64, args.seed, impl, runs, args.device
                )
                if not args.keep_cache:  # later runs hit the decode cache the first one made
                    fresh = round_ == 0 and impl == "torch"
                    times.note += " (decode: fresh)" if fresh else " (decode: cached)"
                recipes.append(times)
            if results:
                recipes = [a.merge(b) for a, b in zip(results, recipes, strict=True)]
            results = recipes
    print(report(results, args.epochs * args.rounds))
    same_model = results[1]  # nn.Conv2d in both: the data pipeline and loop are what differ
    ratio = results[0].per_epoch / same_model.per_epoch
    verdict = "faster" if ratio >= 1 else "slower"
    print(
        f"cnnlab is {ratio:.1f}x {verdict} per epoch than the lab recipe (same model); "
        f"test accuracy {same_model.test_acc:.3f} vs {results[0].test_acc:.3f}"
    )
    floor = model_floor(1017, 340, 64, 32, args.device)
    print(
        f"model arithmetic alone (ready-made tensors, no data path): {floor:.2f} s/epoch, so "
        f"no pipeline can be more than {results[0].per_epoch / floor:.1f}x faster than the lab "
        f"recipe with this model on this device; cnnlab is within "
        f"{same_model.per_epoch / floor:.2f}x of that floor"
    )
    return 0 if math.isfinite(ratio) else 1


if __name__ == "__main__":
    raise SystemExit(main())
