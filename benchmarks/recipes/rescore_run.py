"""Re-score a finished classification run's last weights with and without its test-time steps.

    python benchmarks/recipes/rescore_run.py RUN_DIR [RUN_DIR …]

For the ablations of `vehicles-best`: BatchNorm re-estimation (`bn_adapt`) and flip TTA act
only when a split is evaluated, so the same trained weights are scored four ways (adapt on /
off × flip / none) instead of retraining. The first row repeats what the run itself recorded
(its `final.test_acc`), a check that this script scores as the trainer does. Training-time
steps (Fourier style, pseudo-labels) need a run without them: `--fourier-style 0`.

It also splits the test images by light — "dark" when the mean grey level of the image is
below 60 of 255 (night shots) — and prints the confusion of each part as scored by the run,
which is where the vehicles test split differs from training.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from engine.recipes import batchnorm_adapted, tta_logits
from engine.trainer.config import TrainConfig
from engine.trainer.evaluation import evaluate
from engine.trainer.setup import build_model, build_parts, build_task, load_data, to_device

DARK = 60  # mean grey level (0-255) below which an image counts as a night shot


@torch.no_grad()
def confusion_by_light(config, model, task, test_x, test_y) -> dict[str, torch.Tensor]:
    """Confusion matrices (rows: true class) of the dark and the light test images, scored
    as the run scores (its TTA and BN re-estimation)."""
    model.eval()
    inputs = task.prepare(test_x, test_y, None)[0]
    if config.bn_adapt:
        with batchnorm_adapted(model, inputs):
            predicted = tta_logits(model, inputs, config.tta).argmax(1)
    else:
        predicted = tta_logits(model, inputs, config.tta).argmax(1)
    dark = test_x.float().mean(dim=(1, 2, 3)) < DARK
    classes = int(test_y.max()) + 1
    result = {}
    for name, part in (("dark", dark), ("light", ~dark)):
        pairs = test_y[part] * classes + predicted[part]
        result[name] = torch.bincount(pairs, minlength=classes**2).view(classes, classes)
    return result


def rescore(run_dir: Path) -> tuple[list[dict], dict[str, torch.Tensor]]:
    config = TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    config = config.replace(device="cpu", init_from="")
    bundle = load_data(config)
    device = torch.device("cpu")
    data = to_device(bundle, device)
    model = build_model(config, bundle, device)
    state = torch.load(run_dir / "last.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    task = build_task(config, bundle, data.test[0])
    rows = []
    for bn_adapt, tta in ((config.bn_adapt, config.tta), (False, config.tta), (True, "none"),
                          (False, "none")):  # fmt: skip
        parts = build_parts(config.replace(bn_adapt=bn_adapt, tta=tta), model, task, data,
                            device, None)  # fmt: skip
        scores = evaluate(parts, *data.test, lambda: False)
        rows.append({"bn_adapt": bn_adapt, "tta": tta, **scores})
    return rows, confusion_by_light(config, model, task, *data.test)


def main() -> None:
    for name in sys.argv[1:]:
        run_dir = Path(name)
        summary = json.loads((run_dir / "summary.json").read_text())
        recorded = summary["final"].get("test_acc")
        print(f"== {run_dir.name} (seed {summary['config']['seed']}; recorded {recorded:.4f})")
        rows, by_light = rescore(run_dir)
        for row in rows:
            per_class = " / ".join(f"{100 * v:.1f}" for v in row["per_class_acc"])
            print(
                f"  bn_adapt {row['bn_adapt']!s:5} tta {row['tta']:5}: acc {100 * row['acc']:.1f} %"
                f", balanced {100 * row['balanced_acc']:.1f} %, per class {per_class}"
            )
        for name, confusion in by_light.items():
            rows_text = "; ".join(" ".join(str(int(v)) for v in row) for row in confusion)
            print(f"  {name} test images (mean grey < {DARK} = dark): confusion {rows_text}")


if __name__ == "__main__":
    main()
