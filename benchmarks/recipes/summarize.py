"""Summarise recipe runs: final (last-epoch) test metrics, balanced accuracy, mean ± std.

.venv/bin/python benchmarks/recipes/summarize.py RUNS_DIR [PRESET]
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from engine.runs import RunStore


def _mean_std(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.4g}" if values else "-"
    return f"{statistics.mean(values):.4g} ± {statistics.stdev(values):.2g}"


def main() -> None:
    store = RunStore(Path(sys.argv[1]))
    preset = sys.argv[2] if len(sys.argv) > 2 else None
    groups: dict[str, list] = {}
    for record in reversed(store.list_runs()):
        if record.status != "completed" or (preset and record.summary.get("preset") != preset):
            continue
        label = " ".join(filter(None, (record.summary.get("preset"), record.summary["model"])))
        groups.setdefault(label, []).append(record)
    for name, records in groups.items():
        print(f"== {name}: {len(records)} run(s)")
        columns: dict[str, list[float]] = {}
        for record in records:
            s = record.summary
            final = s["final"]
            row = {"train_seconds": s["train_seconds"]}
            for key in ("test_acc", "test_psnr", "test_ssim"):
                if final.get(key) is not None:
                    row[key] = final[key]
            per_class = [v for v in (s.get("per_class_acc") or []) if v is not None]
            if per_class:
                row["balanced_acc"] = sum(per_class) / len(per_class)
            seed = s["config"]["seed"]
            print(
                f"  seed {seed} {record.run_id}: "
                + ", ".join(f"{k} {v:.4g}" for k, v in row.items())
            )
            for key, value in row.items():
                columns.setdefault(key, []).append(value)
        print("  mean ± std: " + ", ".join(f"{k} {_mean_std(v)}" for k, v in columns.items()))


if __name__ == "__main__":
    main()
