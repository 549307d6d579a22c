"""`cnnlab runs` at 80 columns, the short handles every command accepts, and `cnnlab label`."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from test_cli_runs import write_run

from engine.cli import main
from engine.runs import RunStore
from engine.runs.files import read_json, write_json_atomic
from engine.runs.labels import RunLabels
from engine.runs.store import short_handles

REPO = Path(__file__).resolve().parents[1]
IDS = [f"20250101-1200{i:02d}-conv-vehicles_and_more-{0xA000 + i:04x}" for i in range(20)]


def cnnlab(runs: Path, *args: str, columns: int = 80) -> subprocess.CompletedProcess:
    """The real command line, its output piped (as in the issue), `columns` wide."""
    env = {**os.environ, "COLUMNS": str(columns), "OMP_NUM_THREADS": "1"}
    env.pop("FORCE_COLOR", None)
    return subprocess.run(
        [sys.executable, "-m", "engine", *args, "--runs-dir", str(runs)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )


@pytest.fixture(scope="module")
def twenty(tmp_path_factory) -> Path:
    """20 runs with long ids and options; two named and tagged, one with a long note."""
    runs = tmp_path_factory.mktemp("twenty") / "runs"
    for i, run_id in enumerate(IDS):
        status = ("completed", "cancelled", "failed", "running")[i % 4]
        write_run(runs, run_id, [0.3 + i / 100, 0.4 + i / 100], lr=0.001 * (i + 1), status=status)
    store = RunStore(runs)
    store.set_labels(IDS[3], RunLabels("baseline", "the first honest try " * 5, ("cpu", "ref")))
    store.set_labels(IDS[7], RunLabels("a-name-that-is-forty-characters-long-xyz", "", ("long",)))
    return runs


def test_runs_at_80_columns_is_one_line_per_run_and_never_breaks_a_word(twenty):
    done = cnnlab(twenty, "runs")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 21 and max(len(line) for line in lines) <= 80
    header = lines[0].split()
    assert header[:6] == ["run", "status", "data", "model", "ep", "best"] and "time" in header
    handles = short_handles(RunStore(twenty).list_runs())
    rows = {line.split()[0]: line for line in lines[1:]}
    assert len(rows) == 20  # each line starts with one run's handle (the long name is cut)
    assert rows["a000"].split()[1:7] == ["completed", "shapes", "conv", "2/2", "40.0%", "@2"]
    assert rows["baseline"].split()[1] == "running"  # its writer (this test) is alive
    assert "baseline" in rows and handles[IDS[3]] == "baseline"
    assert any(key.startswith("a-name-that") and key.endswith("…") for key in rows)
    for run_id in IDS:
        handle = handles[run_id]
        line = rows.get(handle) or next(v for k, v in rows.items() if k.endswith("…"))
        record = RunStore(twenty).get(run_id)
        assert record.status in line  # whole words: nothing wraps onto a second line
        assert "-conv-vehicles_and_more-" not in line  # the 46-character id is not shown


def test_runs_wide_shows_every_column_one_line_each(twenty):
    done = cnnlab(twenty, "runs", "--wide")
    lines = done.stdout.splitlines()
    assert done.returncode == 0 and len(lines) == 21
    for word in ("id", "lr", "batch", "optimizer", "tags", "note"):
        assert word in lines[0].split()
    assert all(any(run_id in line for line in lines) for run_id in IDS)
    baseline = next(line for line in lines if line.startswith("baseline "))
    assert "conv (widths=8,16)" in baseline and "cpu,ref" in baseline
    assert "the first honest try the first honest try" in baseline


def test_runs_json_and_csv_carry_the_handle_and_labels(twenty, capsys):
    assert main(["runs", "--json", "--runs-dir", str(twenty)]) == 0
    rows = {row["run_id"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows[IDS[3]]["handle"] == "baseline"
    assert rows[IDS[3]]["labels"]["tags"] == ["cpu", "ref"]
    assert rows[IDS[0]]["handle"] == "a000" and rows[IDS[0]]["labels"]["name"] == ""
    assert main(["runs", "--csv", "--runs-dir", str(twenty)]) == 0
    table = {r["run_id"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert table[IDS[3]]["handle"] == "baseline" and table[IDS[3]]["labels.tags"] == "cpu,ref"


def test_runs_filters_by_tag_and_by_search(twenty, capsys):
    assert main(["runs", "--tag", "ref", "--runs-dir", str(twenty)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].startswith("baseline")
    assert main(["runs", "--search", "HONEST", "--json", "--runs-dir", str(twenty)]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == [IDS[3]]
    assert main(["runs", "--tag", "nobody", "--runs-dir", str(twenty)]) == 0
    assert "no runs" in capsys.readouterr().out


def test_show_fits_80_columns_and_shows_the_labels(twenty):
    done = cnnlab(twenty, "show", "baseline")
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stderr
    assert max(len(line) for line in lines) <= 80
    text = done.stdout
    assert IDS[3] in text and "cpu, ref" in text and "the first honest try" in text
    name_line = next(line for line in lines if line.startswith("name "))
    assert "baseline" in name_line
    # the note wraps between words, never inside one
    note_at = next(i for i, line in enumerate(lines) if line.startswith("note "))
    status_at = next(i for i, line in enumerate(lines) if line.startswith("status "))
    words = " ".join(lines[note_at:status_at]).split()
    assert status_at - note_at > 1 and words == ["note"] + ["the", "first", "honest", "try"] * 5


def test_compare_and_report_accept_names_and_short_ids(twenty, tmp_path):
    done = cnnlab(twenty, "compare", "baseline", "a000", "--width", "60")
    assert done.returncode == 0, done.stderr
    assert "1:baseline" in done.stdout and "2:" in done.stdout
    out = tmp_path / "report"
    done = cnnlab(twenty, "report", "baseline", "a001", "--out", str(out))
    assert done.returncode == 0, done.stderr + done.stdout
    written = " ".join(p.read_text(errors="replace") for p in out.rglob("*.md"))
    assert IDS[3] in written and IDS[1] in written


def test_label_command_stores_prints_and_refuses_without_a_traceback(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs, IDS[0], [0.5])
    write_run(runs, IDS[1], [0.5])
    done = cnnlab(runs, "label", "a000", "--name", "first", "--note", "a try", "--tag", "x,y")
    assert done.returncode == 0, done.stderr
    assert "name  first" in done.stdout and "tags  x, y" in done.stdout
    done = cnnlab(runs, "label", "first", "--untag", "x", "--tag", "z")
    assert "tags  y, z" in done.stdout and "note  a try" in done.stdout
    for args, words in (
        (["a001", "--name", "first"], f"already used by run {IDS[0]}"),
        (["a001", "--name", "no spaces"], "letters, digits"),
        (["a001", "--tag", "a b"], "tag 'a b'"),
        (["nosuchrun", "--name", "ok-name"], "no run 'nosuchrun'"),
        ([str(runs.parent), "--name", "ok-name"], "is not a run"),
    ):
        done = cnnlab(runs, "label", *args)
        said = " ".join((done.stdout + done.stderr).split())  # undo the terminal's wrapping
        assert done.returncode == 1 and words in said and "Traceback" not in said, said
    done = cnnlab(runs, "label", "first", "--clear-name", "--clear-tags", "--note", "")
    assert "name  —" in done.stdout and "tags  —" in done.stdout
    assert json.loads((runs / IDS[0] / "labels.json").read_text())["name"] == ""


def test_a_malformed_labels_file_never_breaks_the_listing(tmp_path):
    runs = tmp_path / "runs"
    for run_id in IDS[:3]:
        write_run(runs, run_id, [0.5])
    (runs / IDS[1] / "labels.json").write_text('{"name": ["not", "text"]')
    done = cnnlab(runs, "runs")
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 4
    assert "a001" in done.stdout and "damaged" not in done.stdout
    done = cnnlab(runs, "show", "a001")
    assert done.returncode == 0 and "labels.json is unreadable" in " ".join(done.stdout.split())


def test_train_resume_and_the_use_commands_accept_a_name(tmp_path, one_thread, capsys):
    """A tiny real run, made to read as interrupted, resumed by the name it was given; then
    evaluate, predict, explain and export find it by that name too."""
    runs = tmp_path / "runs"
    fast = ["--preset", "quick-shapes", "--device", "cpu", "--image-size", "18", "--quiet"]
    assert main(["train", *fast, "--epochs", "1", "--max-train-batches", "2",
                 "--runs-dir", str(runs)]) == 0  # fmt: skip
    [record] = RunStore(runs).list_runs()
    summary = read_json(record.path / "summary.json")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    write_json_atomic(record.path / "summary.json", {**summary, "status": "running",
                                                     "pid": int(gone)})  # fmt: skip
    assert RunStore(runs).get(record.run_id).status == "interrupted"
    assert main(["label", record.run_id, "--name", "tiny", "--runs-dir", str(runs)]) == 0
    assert main(["train", "--resume", "tiny", "--epochs", "2", "--quiet",
                 "--runs-dir", str(runs)]) == 0  # fmt: skip
    [record] = RunStore(runs).list_runs()
    assert [row["epoch"] for row in record.metrics] == [1, 2] and record.status == "completed"
    assert record.labels.name == "tiny"  # the resumed run keeps its labels
    handle = ["tiny", "--runs-dir", str(runs)]
    image = tmp_path / "red.png"
    Image.new("RGB", (18, 18), (200, 10, 10)).save(image)
    assert main(["evaluate", *handle, "--device", "cpu"]) == 0
    assert (record.path / "evaluations").is_dir()
    assert main(["predict", *handle, str(image), "--device", "cpu", "--json"]) == 0
    assert main(["explain", *handle, "--limit", "2", "--no-pictures"]) == 0
    assert (record.path / "explain").is_dir()
    out = tmp_path / "tiny.pt2"
    assert main(["export", *handle, "--format", "export", "--out", str(out)]) == 0
    assert out.is_file()
    capsys.readouterr()
    assert main(["predict", "tni", str(image), "--runs-dir", str(runs)]) == 1  # no such run
    assert "no run 'tni'" in capsys.readouterr().err


def test_sweeps_list_is_one_line_per_sweep_at_80_columns_and_report_takes_a_handle(tmp_path):
    """A sweep with a long grid; its runs are named by the short ids in `report` too."""
    from engine.sweeps import build_spec
    from engine.sweeps.membership import stamp_summary, write_membership
    from engine.sweeps.state import SweepState, save_state
    from engine.trainer import TrainConfig

    runs = tmp_path / "runs"
    grid = {"lr": [1e-2, 1e-3, 3e-4], "batch_size": [16, 32, 64, 128], "optimizer": ["sgd", "adam"]}
    spec = build_spec(TrainConfig(dataset="shapes", epochs=2), grid, [0, 1, 2])
    state = SweepState.new(spec)
    for point, run_id in zip(state.points, IDS, strict=False):
        write_run(runs, run_id, [0.5, 0.6], lr=point.setting["lr"])
        write_membership(runs / run_id, spec.sweep_id, point.point)
        stamp_summary(runs / run_id, spec.sweep_id, point.point)
        point.attempts.append(run_id)
    save_state(runs, state)
    done = cnnlab(runs, "sweeps")
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stderr
    assert len(lines) == 2 and max(len(line) for line in lines) <= 80
    assert lines[1].startswith(spec.sweep_id[:6])
    out = tmp_path / "report"
    done = cnnlab(runs, "report", "a002", "--out", str(out))
    assert done.returncode == 0, done.stderr + done.stdout
    assert IDS[2] in " ".join(p.read_text(errors="replace") for p in out.rglob("*.md"))


def test_the_model_and_data_set_are_cut_before_the_handle():
    from engine.cli.runs_table import fit_widths

    # handle 21, status 9, data 10, model 11 and three gaps of 2: 6 too wide for 51
    widths = fit_widths([21, 9, 10, 11], [6, 9, 6, 6], 51, [1, 2, 0, 0])
    assert widths == [21, 9, 7, 8]  # the wider of the two loses first, then they take turns
    # when data set and model are at their minimum, the handle goes next, the status never
    widths = fit_widths([21, 9, 10, 11], [6, 9, 6, 6], 40, [1, 2, 0, 0])
    assert widths == [13, 9, 6, 6]


def test_a_searchs_trials_fit_80_columns_and_name_runs_by_handle(tmp_path, one_thread):
    """A real 2-trial search on tiny shapes; `cnnlab sweeps SEARCH` names each trial's run
    by the handle `cnnlab show` accepts."""
    pytest.importorskip("optuna", reason="searches need the 'search' extra (optuna)")
    from engine_helpers import tiny_config

    from engine.sweeps.search import build_search
    from engine.sweeps.search_runner import SearchRunner
    from engine.trainer.config import FieldRange, TrainConfig

    runs = tmp_path / "runs"
    base = TrainConfig(**tiny_config(epochs=1, max_train_batches=2))
    space = {"lr": FieldRange(1e-4, 1e-1, True), "batch_size": FieldRange(16, 64, False)}
    spec = build_search(base, space, trials=2, objective="test_acc")
    assert SearchRunner(spec, runs).run().status == "completed"
    done = cnnlab(runs, "sweeps", spec.search_id)
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stderr
    assert max(len(line) for line in lines) <= 80
    handles = short_handles(RunStore(runs).list_runs())
    trial_lines = [line for line in lines if line.split()[:1] in (["0"], ["1"])]
    assert len(trial_lines) == 2
    for line in trial_lines:
        handle = line.split()[-1]
        assert handle in handles.values()
        assert cnnlab(runs, "show", handle).returncode == 0
