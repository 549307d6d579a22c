"""Scratch: try vehicle-recipe levers quickly, choosing on the validation split.

Reuses the engine's data, models, tasks and schedules but runs its own small loop so that
several variants can be compared on one decoded data set. Prints one line per epoch with
val / val+BN-adapt / test (test is printed for the record only; choices use val).

    .venv/bin/python benchmarks/recipes/explore_vehicles.py --size 64 --model residual \
        --epochs 12 --normalize image --augmentation strong --tta flip --resize letterbox

`--pad-fill 0` tries another letterbox padding colour: it decodes into a temporary cache
(the normal cache key does not include the colour, which the engine fixes).
`--pseudo 0.9` self-trains from mid-run on the val and test images predicted with softmax
≥ 0.9 (as the engine's `pseudo_label` field does), keeping the steps per epoch. Run it with
`PYTHONPATH=.` from the repository root so that `engine` is this checkout's.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

import engine.datasets.decode as decode
from engine.datasets.augment import augment_batch, to_float
from engine.datasets.registry import load_dataset
from engine.models import create_model
from engine.recipes import adapt_batchnorm, tta_logits
from engine.recipes.lighting import relight
from engine.recipes.mixing import mix_batch, mixed_loss
from engine.trainer.config import TrainConfig
from engine.trainer.optim import build_optimizer, build_scheduler
from engine.trainer.tasks import ClassifyTask


def accuracy(model, task, x, y, tta: str) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        inputs, _ = task.prepare(x, y, None)
        pred = tta_logits(model, inputs, tta).argmax(1)
    acc = (pred == y).float().mean().item()
    per_class = [(pred[y == c] == c).float().mean().item() for c in y.unique()]
    accuracy.last = " ".join(f"{v:.2f}" for v in per_class)
    return acc, sum(per_class) / len(per_class)


def evaluate(model, task, x, y, tta: str, bn_adapt: bool) -> tuple[float, float]:
    if not bn_adapt:
        return accuracy(model, task, x, y, tta)
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    inputs, _ = task.prepare(x, y, None)
    adapt_batchnorm(model, inputs, batch_size=64)
    result = accuracy(model, task, x, y, tta)
    model.load_state_dict(saved)
    return result


def pseudo_labels(model, task, x, tta: str, threshold: float):
    """(images, predicted labels) of `x` predicted with softmax ≥ threshold (BN adapted to x)."""
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    inputs, _ = task.prepare(x, torch.zeros(len(x), dtype=torch.int64), None)
    adapt_batchnorm(model, inputs, batch_size=64)
    model.eval()
    with torch.no_grad():
        prob = tta_logits(model, inputs, tta).softmax(1)
    model.load_state_dict(saved)
    conf, pred = prob.max(1)
    keep = conf >= threshold
    return x[keep], pred[keep]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--root", default="../shared/data/vehicles")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--resize", default="stretch", choices=decode.RESIZE_MODES)
    p.add_argument("--pad-fill", type=int, default=None, help="letterbox grey level 0-255")
    p.add_argument("--model", default="residual")
    p.add_argument("--opt", action="append", default=[])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--optimizer", default="adamw")
    p.add_argument("--wd", type=float, default=5e-4)
    p.add_argument("--scheduler", default="onecycle")
    p.add_argument("--normalize", default="image")
    p.add_argument("--augmentation", default="strong")
    p.add_argument("--lighting", default="none")
    p.add_argument("--light-p", type=float, default=0.5)
    p.add_argument("--mix", default="mixup")
    p.add_argument("--mixup", type=float, default=0.0)
    p.add_argument("--smoothing", type=float, default=0.0)
    p.add_argument("--tta", default="none")
    p.add_argument("--val", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pseudo", type=float, default=0.0, help="pseudo-label threshold (0: off)")
    p.add_argument("--pseudo-from", default="val,test", help="unlabelled splits to self-train on")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.pad_fill is not None:
        decode.PAD_FILL = (args.pad_fill,) * 3
        os.environ["CNNLAB_CACHE"] = tempfile.mkdtemp(prefix="cnnlab-pad-")
    b = load_dataset(
        "vehicles", args.root, image_size=args.size, val_fraction=args.val, resize=args.resize
    )
    options = {}
    for text in args.opt:
        from engine.trainer.config import parse_model_option

        k, v = parse_model_option(text)
        options[k] = v
    model = create_model(args.model, num_classes=3, image_size=args.size, **options).to(
        memory_format=torch.channels_last
    )
    config = TrainConfig(
        lr=args.lr, optimizer=args.optimizer, weight_decay=args.wd, epochs=args.epochs
    )
    opt = build_optimizer(model, config)
    steps = (len(b.train_x) // args.batch) * args.epochs
    sched = build_scheduler(opt, args.scheduler, steps)
    task = ClassifyTask(3, args.normalize, args.augmentation, b.mean, b.std)
    g = torch.Generator().manual_seed(args.seed + 1)
    shuffle = torch.Generator().manual_seed(args.seed)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=args.smoothing)
    print(f"train {len(b.train_x)} val {len(b.val_x)} test {len(b.test_x)}", flush=True)
    began = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        pool_x, pool_y, note = b.train_x, b.train_y, ""
        if args.pseudo > 0 and epoch > args.epochs // 2:
            parts = [
                pseudo_labels(model, task, getattr(b, f"{split}_x"), args.tta, args.pseudo)
                for split in args.pseudo_from.split(",")
            ]
            pool_x = torch.cat([b.train_x] + [px for px, _ in parts])
            pool_y = torch.cat([b.train_y] + [py for _, py in parts])
            note = f" pseudo {len(pool_x) - len(b.train_x)}"
        model.train()
        order = torch.randperm(len(pool_x), generator=shuffle)
        total = 0.0
        for i in range(len(b.train_x) // args.batch):  # same steps per epoch with pseudo-labels
            idx = order[i * args.batch : (i + 1) * args.batch]
            x01 = relight(to_float(pool_x[idx]), args.lighting, g, p=args.light_p)
            x = to_float(x01, args.normalize, mean=b.mean, std=b.std)
            x, y = augment_batch(x, args.augmentation, g), pool_y[idx]
            x = x.contiguous(memory_format=torch.channels_last)
            if args.mixup > 0:
                x, y2, lam = mix_batch(x, y, args.mixup, g, args.mix)
                loss = mixed_loss(loss_fn, model(x), y, y2, lam)
            else:
                loss = loss_fn(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        secs = time.perf_counter() - began
        line = f"ep {epoch:2d} {secs:6.0f}s loss {total / (i + 1):.3f}{note}"
        if epoch == args.epochs or epoch % 3 == 0:
            for label, x, y in (("val", b.val_x, b.val_y), ("test", b.test_x, b.test_y)):
                acc, bal = evaluate(model, task, x, y, args.tta, False)
                acc2, bal2 = evaluate(model, task, x, y, args.tta, True)
                line += f" | {label} {acc:.3f}/{bal:.3f} adapt {acc2:.3f}/{bal2:.3f}"
                line += f" [{accuracy.last}]"
        print(line, flush=True)


if __name__ == "__main__":
    main()
