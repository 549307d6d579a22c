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

REPO = Path(__file__).resolve().parents[1]

# Runs every command in one fresh interpreter; prints the first one after which torch
# is loaded (or "none").
_PROBE = """
import contextlib, io, json, sys
from engine.cli import main
for argv in json.loads(sys.argv[1]):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    if code not in (0, None):
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
    code += "engine.events; print('torch' in sys.modules)"
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
