"""Round-3 candidates for `vehicles-best`, scored by the committed selection rule.

Trains one candidate recipe on the vehicles training part minus its validation tail
(`val_fraction=0.2`), optionally starting from a CIFAR-10 run (`--init RUN`, any
`init_from` form of `engine.transfer`), and prints only what the rule may look at
(docs/recipes.md, "Third round"):

- V / Vb: validation accuracy / balanced accuracy as scored (flip TTA, BN re-estimated on
  the split; "raw" = without the re-estimation);
- on the unlabelled test images: B (class-balance gap to the training prior), A (agreement
  across four diagonal shifts of S/16 px), H (mean entropy), predicted class counts.

**The test labels are dropped right after decoding** (`bundle.test_y = None`), so nothing
here can compute a test accuracy. The last line is a JSON record for the candidates table.

    PYTHONPATH=. OMP_NUM_THREADS=1 nice -n 19 python benchmarks/recipes/explore_transfer.py \
        --init RUN_ID --runs-dir /tmp/runs --size 32 --epochs 20 --lr 1e-3

`--style-beta β` gives each training image, with probability `--style-p`, the low-frequency
Fourier amplitude of a random unlabelled test image (`engine.recipes.style`, FDA).
Pseudo-labels (`--pseudo`): from the middle of the run, val + test images join each epoch's
training pool under their predicted class, either those with softmax ≥ τ
(`--pseudo-mode threshold`, as the engine's `pseudo_label`) or the most confident fraction
τ of the images predicted as each class (`--pseudo-mode class-top`, class-relative
selection that never uses the class prior); the epoch keeps its planned number of steps.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from engine.datasets.augment import to_float
from engine.datasets.registry import load_dataset
from engine.models import create_model
from engine.recipes import batchnorm_adapted, tta_logits
from engine.recipes.selection import class_balance_gap, mean_entropy, view_agreement
from engine.recipes.style import fourier_style
from engine.trainer.config import parse_model_option
from engine.trainer.epoch import train_batches
from engine.trainer.optim import build_scheduler
from engine.trainer.tasks import ClassifyTask
from engine.transfer import backbone_frozen, initialise, parameter_groups, set_backbone_frozen

EVAL_BATCH = 128


@torch.no_grad()
def probabilities(model, inputs: torch.Tensor, tta: str) -> torch.Tensor:
    model.eval()
    parts = [
        tta_logits(model, inputs[i : i + EVAL_BATCH], tta).float().softmax(1)
        for i in range(0, len(inputs), EVAL_BATCH)
    ]
    return torch.cat(parts)


def model_inputs(task: ClassifyTask, x: torch.Tensor) -> torch.Tensor:
    dummy = torch.zeros(len(x), dtype=torch.int64)
    return task.prepare(x, dummy, None)[0].contiguous(memory_format=torch.channels_last)


def predict_split(model, inputs: torch.Tensor, tta: str, adapt: bool) -> torch.Tensor:
    if not adapt:
        return probabilities(model, inputs, tta)
    with batchnorm_adapted(model, inputs, batch_size=EVAL_BATCH):
        return probabilities(model, inputs, tta)


def accuracies(predicted: torch.Tensor, labels: torch.Tensor, classes: int) -> tuple[float, float]:
    acc = (predicted == labels).double().mean().item()
    per_class = [(predicted[labels == c] == c).double().mean().item() for c in range(classes)]
    return acc, sum(per_class) / classes


def scores(model, task, val_inputs, val_y, test_inputs, prior, args) -> dict:
    """V, Vb (adapted and raw) on validation; B, A, H and counts on the unlabelled test set."""
    adapt = not args.no_bn_adapt
    row = {}
    pv = predict_split(model, val_inputs, args.tta, adapt)
    row["V"], row["Vb"] = accuracies(pv.argmax(1), val_y, 3)
    raw = predict_split(model, val_inputs, args.tta, False)
    row["V_raw"], row["Vb_raw"] = accuracies(raw.argmax(1), val_y, 3)
    shift = max(1, args.size // 16)
    if adapt:
        with batchnorm_adapted(model, test_inputs, batch_size=EVAL_BATCH):
            pt = probabilities(model, test_inputs, args.tta)
            row["A"] = view_agreement(
                lambda im: probabilities(model, im, args.tta), test_inputs, shift
            )
    else:
        pt = probabilities(model, test_inputs, args.tta)
        row["A"] = view_agreement(lambda im: probabilities(model, im, args.tta), test_inputs, shift)
    predicted = pt.argmax(1)
    row["B"] = class_balance_gap(predicted, prior)
    row["H"] = mean_entropy(pt)
    row["S"] = row["B"] + 1 - row["A"]
    row["counts"] = torch.bincount(predicted, minlength=3).tolist()
    return row


def pseudo_pool(model, task, splits, args) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 images, predicted labels) chosen from the unlabelled splits."""
    xs, ys = [], []
    for x in splits:
        prob = predict_split(model, model_inputs(task, x), args.tta, not args.no_bn_adapt)
        confidence, predicted = prob.max(1)
        if args.pseudo_mode == "threshold":
            keep = confidence >= args.pseudo
        else:  # class-top: the most confident fraction τ of each predicted class
            keep = torch.zeros(len(x), dtype=torch.bool)
            for c in range(3):
                members = (predicted == c).nonzero().flatten()
                k = int(round(args.pseudo * len(members)))
                if k:
                    top = confidence[members].topk(k).indices
                    keep[members[top]] = True
        xs.append(x[keep])
        ys.append(predicted[keep])
    return torch.cat(xs), torch.cat(ys)


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--root", default="../shared/data/vehicles")
    p.add_argument("--runs-dir", default=None, help="where --init looks for runs")
    p.add_argument(
        "--init", default="", help="init_from: RUN[:best|:last], FILE.pt, torchvision:NAME"
    )
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--resize", default="stretch")
    p.add_argument("--model", default="residual")
    p.add_argument("--opt", action="append", default=[], help="model option key=value")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--optimizer", default="adamw", choices=("adamw", "sgd"))
    p.add_argument("--wd", type=float, default=5e-4)
    p.add_argument("--scheduler", default="onecycle")
    p.add_argument("--normalize", default="image")
    p.add_argument("--augmentation", default="strong")
    p.add_argument("--lighting", default="night")
    p.add_argument("--smoothing", type=float, default=0.1)
    p.add_argument("--tta", default="flip")
    p.add_argument("--no-bn-adapt", action="store_true")
    p.add_argument("--freeze-epochs", type=int, default=0)
    p.add_argument("--head-lr-mult", type=float, default=1.0)
    p.add_argument("--pseudo", type=float, default=0.0, help="τ (0: off)")
    p.add_argument("--pseudo-mode", default="threshold", choices=("threshold", "class-top"))
    p.add_argument("--pseudo-from", default="val,test")
    p.add_argument("--style-beta", type=float, default=0.0, help="FDA window (0: off)")
    p.add_argument("--style-p", type=float, default=0.5)
    p.add_argument("--style-from", default="test", help="unlabelled splits to take style from")
    p.add_argument("--every", type=int, default=5, help="score every N epochs (and the last)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--label", default="", help="name of the candidate in the JSON record")
    return p.parse_args()


def main() -> None:
    args = parse()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    bundle = load_dataset(
        "vehicles", args.root, image_size=args.size, val_fraction=0.2, resize=args.resize
    )
    bundle.test_y = None  # the test labels are never used below: no test accuracy exists here
    test_x = bundle.test_x
    prior = torch.bincount(bundle.train_y, minlength=3).tolist()
    options = dict(parse_model_option(text) for text in args.opt)
    model = create_model(args.model, num_classes=3, image_size=args.size, **options)
    if args.init:
        report = initialise(model, args.init, classes=bundle.classes, runs_dir=args.runs_dir)
        for line in report.lines():
            print(line, flush=True)
    model = model.to(memory_format=torch.channels_last)
    task = ClassifyTask(
        3,
        args.normalize,
        args.augmentation,
        bundle.mean,
        bundle.std,
        label_smoothing=args.smoothing,
        lighting=args.lighting,
    )
    groups = parameter_groups(model, args.lr, args.head_lr_mult)
    if args.optimizer == "sgd":
        opt = torch.optim.SGD(groups, lr=args.lr, momentum=0.9, nesterov=True, weight_decay=args.wd)
    else:
        opt = torch.optim.AdamW(groups, lr=args.lr, weight_decay=args.wd)
    per_epoch = train_batches(len(bundle.train_x), args.batch, None)
    sched = build_scheduler(opt, args.scheduler, per_epoch * args.epochs)
    augment = torch.Generator().manual_seed(args.seed + 1)
    shuffle = torch.Generator().manual_seed(args.seed)
    val_inputs, test_inputs = model_inputs(task, bundle.val_x), model_inputs(task, test_x)
    unlabelled = {"val": bundle.val_x, "test": test_x}
    style_pool = torch.cat([unlabelled[s] for s in args.style_from.split(",")])
    style_pool = to_float(style_pool, "none")
    print(
        f"train {len(bundle.train_x)} val {len(bundle.val_x)} test {len(test_x)} (unlabelled); "
        f"prior {prior}; {sum(p.numel() for p in model.parameters()):,} parameters",
        flush=True,
    )
    train_seconds, row = 0.0, {}
    for epoch in range(1, args.epochs + 1):
        began = time.perf_counter()
        set_backbone_frozen(model, backbone_frozen(epoch, args.freeze_epochs))
        pool_x, pool_y, note = bundle.train_x, bundle.train_y, ""
        if args.pseudo > 0 and epoch > args.epochs // 2:
            splits = [unlabelled[s] for s in args.pseudo_from.split(",")]
            px, py = pseudo_pool(model, task, splits, args)
            pool_x, pool_y = torch.cat([pool_x, px]), torch.cat([pool_y, py])
            note = f" pseudo {len(px)} {torch.bincount(py, minlength=3).tolist()}"
        model.train()
        order = torch.randperm(len(pool_x), generator=shuffle)
        total = 0.0
        for i in range(per_epoch):
            idx = order[i * args.batch : (i + 1) * args.batch]
            batch = pool_x[idx]
            if args.style_beta > 0:
                batch = fourier_style(
                    to_float(batch, "none"), style_pool, args.style_beta, augment, args.style_p
                )
            x, y = task.prepare(batch, pool_y[idx], augment)
            loss = task.train_loss(model(x.contiguous(memory_format=torch.channels_last)), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        train_seconds += time.perf_counter() - began
        line = f"ep {epoch:2d} {train_seconds:6.0f}s loss {total / per_epoch:.3f}{note}"
        if epoch % args.every == 0 or epoch == args.epochs:
            row = scores(model, task, val_inputs, bundle.val_y, test_inputs, prior, args)
            line += (
                f" | V {row['V']:.3f} Vb {row['Vb']:.3f} (raw {row['V_raw']:.3f}/"
                f"{row['Vb_raw']:.3f}) | T: B {row['B']:.3f} A {row['A']:.3f} "
                f"S {row['S']:.3f} H {row['H']:.3f} counts {row['counts']}"
            )
        print(line, flush=True)
    record = {
        "label": args.label,
        "argv": {k: v for k, v in vars(args).items() if k not in ("label",)},
        "seed": args.seed,
        "train_seconds": round(train_seconds, 1),
        "seconds_per_epoch": round(train_seconds / args.epochs, 2),
        **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()},
    }
    print("RESULT " + json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
