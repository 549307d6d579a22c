"""`cnnlab runs --csv` / `--json`: the run list as data a spreadsheet or script reads."""

from __future__ import annotations

import csv
import io
import json

from test_cli_runs import write_run

from engine.cli import main


def test_runs_json_lists_every_run_with_config_and_metrics(tmp_path, capsys):
    write_run(tmp_path, "20240101-000000-conv-shapes-aaaa", [0.5, 0.7], lr=0.01, name="first")
    write_run(tmp_path, "20240102-000000-dehaze-bbbb", [0.5], task="dehaze")
    assert main(["runs", "--runs-dir", str(tmp_path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in rows] == [
        "20240102-000000-dehaze-bbbb",
        "20240101-000000-conv-shapes-aaaa",
    ]
    first = rows[1]
    assert first["status"] == "completed" and first["name"] == "first"
    assert first["config"]["lr"] == 0.01 and first["config"]["model_options"]["widths"] == [8, 16]
    assert first["best"]["test_acc"] == 0.7 and first["final"]["test_acc"] == 0.7
    assert "confusion" not in first["final"] and first["path"].endswith("aaaa")


def test_runs_csv_has_one_row_per_run_and_the_union_of_columns(tmp_path, capsys):
    write_run(tmp_path, "20240101-000000-conv-shapes-aaaa", [0.5, 0.7])
    write_run(tmp_path, "20240102-000000-dehaze-bbbb", [0.5], task="dehaze")
    write_run(tmp_path, "20240103-000000-conv-shapes-cccc", [0.2], status="failed")
    assert main(["runs", "--runs-dir", str(tmp_path), "--csv", "--status", "completed"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["run_id"][-4:] for r in rows] == ["bbbb", "aaaa"]
    assert rows[1]["final.test_acc"] == "0.7" and rows[0]["final.test_acc"] == ""
    assert rows[0]["final.test_psnr"] == "20.5"
    assert rows[1]["config.model_options.widths"] == "[8, 16]"


def test_csv_and_json_exclude_each_other(tmp_path, capsys):
    try:
        main(["runs", "--runs-dir", str(tmp_path), "--csv", "--json"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "not allowed with" in capsys.readouterr().err
