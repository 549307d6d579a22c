"""Scratch: dehazing recipe levers, trained on random crops, scored on validation at 256 px.

    .venv/bin/python benchmarks/recipes/explore_dehaze.py --model dehaze_residual \
        --crop 64 --steps 600 --batch 16
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from engine.datasets.augment import augment_pair, to_float
from engine.datasets.registry import load_dataset
from engine.models import create_model
from engine.recipes.crops import random_crop_pairs
from engine.trainer.config import TrainConfig, parse_model_option
from engine.trainer.metrics import psnr, ssim
from engine.trainer.optim import build_optimizer, build_scheduler


@torch.no_grad()
def score(model, x, y, batch: int = 8) -> tuple[float, float]:
    model.eval()
    ps, ss = [], []
    for i in range(0, len(x), batch):
        hazy, clear = to_float(x[i : i + batch]), to_float(y[i : i + batch])
        out = model(hazy).clamp(0, 1)
        ps.append(psnr(out, clear))
        ss.append(ssim(out, clear))
    model.train()
    return torch.cat(ps).mean().item(), torch.cat(ss).mean().item()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--root", default="../shared/data/dehaze")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--model", default="dehaze_residual")
    p.add_argument("--opt", action="append", default=[])
    p.add_argument("--crop", type=int, default=64)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--optimizer", default="adam")
    p.add_argument("--scheduler", default="cosine")
    p.add_argument("--augmentation", default="flip")
    p.add_argument("--loss", default="mse")
    p.add_argument("--val", type=float, default=0.1)
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--test", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    b = load_dataset("dehaze", args.root, image_size=args.size, val_fraction=args.val)
    options = dict(parse_model_option(text) for text in args.opt)
    model = create_model(args.model, image_size=args.size, **options)
    opt = build_optimizer(model, TrainConfig(lr=args.lr, optimizer=args.optimizer))
    sched = build_scheduler(opt, args.scheduler, args.steps)
    g = torch.Generator().manual_seed(args.seed + 1)
    print(f"train {len(b.train_x)} val {len(b.val_x)} test {len(b.test_x)}", flush=True)
    print("hazy val psnr/ssim", score(torch.nn.Identity(), b.val_x, b.val_y), flush=True)
    began, total = time.perf_counter(), 0.0
    for step in range(1, args.steps + 1):
        idx = torch.randint(len(b.train_x), (args.batch,), generator=g)
        hazy, clear = random_crop_pairs(b.train_x[idx], b.train_y[idx], args.crop, g)
        hazy, clear = augment_pair(to_float(hazy), to_float(clear), args.augmentation, g)
        out = model(hazy)
        loss = F.mse_loss(out, clear) if args.loss == "mse" else F.l1_loss(out, clear)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        total += loss.item()
        if step % args.eval_every == 0 or step == args.steps:
            secs = time.perf_counter() - began
            val = score(model, b.val_x, b.val_y)
            line = f"step {step} {secs:.0f}s loss {total / args.eval_every:.5f} val {val}"
            if args.test and step == args.steps:
                line += f" test {score(model, b.test_x, b.test_y)}"
            print(line, flush=True)
            total = 0.0


if __name__ == "__main__":
    main()
