"""A start that feels instant: the config, the run store and the CLI's reading commands
never import torch (about 2 s of a cold start). Checked in fresh interpreters, since the
test process itself has torch loaded long ago."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from run_events import run_recorder

from engine.events import EpochEnd, RunFinished, RunStarted
from engine.sweeps.grid import SweepPoint
from engine.sweeps.membership import write_membership

REPO = Path(__file__).resolve().parents[1]

# Runs every command in one fresh interpreter; prints the first one after which torch
# is loaded (or "none"). A command is an argv list, or [argv, expected exit code].
_PROBE = """
import contextlib, io, json, sys
from engine.cli import main
for item in json.loads(sys.argv[1]):
    argv, expected = item if item and isinstance(item[0], list) else (item, 0)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    if (code or 0) != expected:
        print("exit", code, argv); raise SystemExit(1)
    if "torch" in sys.modules:
        print("torch", argv); raise SystemExit(1)
print("none")
"""


def _python(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def _run(root: Path, run_id: str, acc: float) -> None:
    config = {"dataset": "shapes", "model": "conv", "epochs": 1, "lr": 0.001, "name": ""}
    record = run_recorder(root / run_id, run_id, config)
    record(RunStarted(run_id, config, str(root / run_id), "classify", "cpu", 9, ["a"], 4, 2, 1))
    record(EpochEnd(run_id, 1, {"epoch": 1, "test_acc": acc, "train_loss": 0.5, "seconds": 1}))
    record(RunFinished(run_id, "completed", None, {}))


def test_importing_the_config_the_run_store_and_the_cli_leaves_torch_out():
    code = "import sys, engine.trainer.config, engine.runs, engine.cli, engine.presets, "
    code += "engine.events, engine.ops, engine.ops.arithmetic, engine.datasets, "
    code += "engine.datasets.catalog, engine.datasets.listing; print('torch' in sys.modules)"
    result = _python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_reading_commands_and_help_never_import_torch(tmp_path):
    runs = tmp_path / "runs"
    _run(runs, "20250101-000000-conv-shapes-aaaa", 0.5)
    _run(runs, "20250102-000000-conv-shapes-bbbb", 0.7)
    where = ["--runs-dir", str(runs)]
    commands = [
        ["--help"],
        ["runs", *where],
        ["show", "latest", *where],
        ["compare", "aaaa", "bbbb", *where],
        ["sweeps", *where],
        ["train", "--help"],
        ["sweep", "--help"],
        ["models", "--help"],
        ["datasets", "--help"],
        ["hdc", "--help"],
        ["watch", "--help"],
        ["queue", "--help"],
        ["engine", "--help"],
    ]
    result = _python("-c", _PROBE, json.dumps(commands))
    assert result.stdout.strip() == "none", result.stdout + result.stderr


CLASS_FILES = [f"{c}/{i}.{ext}" for c in ("bus", "car") for i, ext in enumerate(["png", "jpg"] * 2)]


def _touch(path: Path) -> None:
    """An empty file: a probe goes by names and extensions, never by pixels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


def test_hdc_datasets_and_the_other_reading_commands_never_import_torch(tmp_path):
    data = tmp_path / "data"
    for name in (*CLASS_FILES, "car/notes.txt"):
        _touch(data / "vehicles" / name)
    for name in [f"{side}/{i}.png" for side in ("hazy", "clear") for i in range(5)]:
        _touch(data / "dehaze" / name)
    for split in ("train", "test"):
        for name in ("a/1.png", "a/2.png", "b/1.png", "b/2.png"):
            _touch(data / "cifar10" / split / name)
    runs = tmp_path / "runs"
    for index, seed in enumerate((1, 2)):
        run_id = f"2025010{index + 3}-000000-conv-shapes-swp{index}"
        _run(runs, run_id, 0.6)
        write_membership(runs / run_id, "sweep-x", SweepPoint(index, {"lr": 0.1}, seed))
    where = ["--runs-dir", str(runs)]
    commands = [
        ["hdc", "1", "2", "5"],
        ["hdc", "2", "2", "2", "--map"],  # fails HDC (exit 0: it is an answer) and draws
        ["datasets", "--data-root", str(data)],
        ["datasets", "vehicles", "dehaze", "cifar10", "--data-root", str(data)],
        ["datasets", "folder", "--data-root", str(data / "vehicles")],
        ["datasets", "--data-root", str(tmp_path / "nowhere")],
        ["datasets", "--help"],
        ["show", "latest", *where],
        ["show", "swp0", *where],
        ["runs", "--json", *where],
        ["sweeps", *where],
        ["report", "--help"],
        # No engine: it says so (exit 3). `queue` would start one (its live form, like
        # `engine status` with an engine, is in test_cli_engine.py).
        [["engine", "status", *where], 3],
    ]
    result = _python("-c", _PROBE, json.dumps(commands))
    assert result.stdout.strip() == "none", result.stdout + result.stderr


def test_the_datasets_probe_counts_without_torch(tmp_path):
    """The torch-free probe still counts what a person expects (and says so in the table)."""
    data = tmp_path / "data"
    for name in (*CLASS_FILES, "car/notes.txt"):
        _touch(data / "vehicles" / name)
    code = (
        "import sys, json; from engine.datasets import probe_dataset; "
        f"s = probe_dataset('vehicles', {str(data)!r}); "
        "print(json.dumps([s.state, s.count, s.skipped, 'torch' in sys.modules]))"
    )
    result = _python("-c", code)
    assert result.returncode == 0, result.stderr
    state, count, skipped, torch_loaded = json.loads(result.stdout)
    assert (state, count, torch_loaded) == ("found", len(CLASS_FILES), False)
    assert [name for name, _ in skipped] == ["car/notes.txt"]
