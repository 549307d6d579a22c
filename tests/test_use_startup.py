"""The commands that use a trained run keep the CLI's torch-free start: their help, the run
list as CSV/JSON and `show` with evaluations and an explanation never import torch."""

from __future__ import annotations

import json

from test_startup import _PROBE, _python, _run

from engine.use.records import EVALUATIONS_DIR, EXPLAIN_DIR, INDEX_FILE


def test_use_commands_help_and_readers_never_import_torch(tmp_path):
    runs = tmp_path / "runs"
    run_id = "20250101-000000-conv-shapes-aaaa"
    _run(runs, run_id, 0.5)
    (runs / run_id / EVALUATIONS_DIR).mkdir()
    record = {"name": "shapes-test", "num_images": 4, "metrics": {"acc": 0.5}}
    (runs / run_id / EVALUATIONS_DIR / "20250101-000001-shapes-test.json").write_text(
        json.dumps(record)
    )
    (runs / run_id / EXPLAIN_DIR).mkdir()
    index = {"images": [], "errors": 2, "task": "classify"}
    (runs / run_id / EXPLAIN_DIR / INDEX_FILE).write_text(json.dumps(index))
    where = ["--runs-dir", str(runs)]
    commands = [
        ["predict", "--help"],
        ["evaluate", "--help"],
        ["explain", "--help"],
        ["export", "--help"],
        ["tensorboard", "--help"],
        ["runs", "--csv", *where],
        ["runs", "--json", *where],
        ["show", "latest", *where],
    ]
    result = _python("-c", _PROBE, json.dumps(commands))
    assert result.stdout.strip() == "none", result.stdout + result.stderr
