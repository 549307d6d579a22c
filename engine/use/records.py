"""The files `engine.use` leaves in a run folder, read and written without torch, so
`cnnlab show`, the run list and the dashboard read them at a torch-free start.

`evaluations/<YYYYmmdd-HHMMSS>-<name>.json` (one per `cnnlab evaluate`) and
`explain/explain.json` (the index of `cnnlab explain`'s pictures); `EXPORT_FORMATS` names
what `cnnlab export` writes.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from engine.runs.files import read_json, write_json_atomic
from engine.use.run_folder import inside_run

EVALUATIONS_DIR = "evaluations"
EXPLAIN_DIR = "explain"
INDEX_FILE = "explain.json"
EXPORT_FORMATS = ("onnx", "torchscript", "export", "state-dict")
ONNX_OPSET = 18
EXPORT_TOLERANCE = 1e-4


def save_evaluation(run_dir: Path, record: dict[str, Any]) -> Path:
    """Write `record` to `run_dir/evaluations/<time>-<name>.json` atomically; its path."""
    folder = Path(run_dir) / EVALUATIONS_DIR
    folder.mkdir(exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = folder / f"{stamp}-{record['name']}.json"
    number = 2
    while path.exists():
        path = folder / f"{stamp}-{record['name']}-{number}.json"
        number += 1
    write_json_atomic(inside_run(Path(run_dir), path), record)
    return path


def list_evaluations(run_dir: Path) -> list[dict[str, Any]]:
    """The run's evaluations, newest first; an unreadable file becomes an entry with
    `problem` set (never an exception), and `file` names each entry's file."""
    folder = Path(run_dir) / EVALUATIONS_DIR
    if not folder.is_dir():
        return []
    entries = []
    for path in sorted(folder.glob("*.json"), reverse=True):
        try:
            data = read_json(path)
            if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
                raise ValueError("not an evaluation record")
            entries.append({**data, "file": str(path)})
        except (OSError, ValueError) as exc:
            entries.append({"file": str(path), "name": path.stem, "problem": str(exc)})
    return entries


def headline(entry: dict[str, Any]) -> str:
    """One line: 'vehicles-test · 340 images · acc 68.8 % · balanced 64.1 %'."""
    if entry.get("problem"):
        return f"{entry.get('name')}: unreadable ({entry['problem']})"
    metrics = entry.get("metrics") or {}
    words = [str(entry.get("name")), f"{entry.get('num_images')} images"]
    for key, label in (("acc", "acc"), ("balanced_acc", "balanced")):
        if isinstance(metrics.get(key), (int, float)):
            words.append(f"{label} {100 * metrics[key]:.1f} %")
    if isinstance(metrics.get("psnr"), (int, float)):
        words.append(f"PSNR {metrics['psnr']:.2f} dB")
    if isinstance(metrics.get("ssim"), (int, float)):
        words.append(f"SSIM {metrics['ssim']:.3f}")
    if entry.get("classes_missing"):
        words.append(f"missing: {', '.join(map(str, entry['classes_missing']))}")
    return " · ".join(words)


def read_explanation(run_dir: Path) -> dict[str, Any] | None:
    """The saved index of `run_dir`'s explanation, or None when there is none (or it is
    unreadable: the caller offers to explain again)."""
    try:
        data = read_json(Path(run_dir) / EXPLAIN_DIR / INDEX_FILE)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("images"), list) else None
