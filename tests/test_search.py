"""Searches that learn (Optuna): the space typed through the config's one parser, the checks
before any trial, the median rule pruning a trial (recorded `pruned`), and a real 6-trial
TPE search on `shapes` with pruning on, killed with SIGKILL mid-search, resumed by the same
command without redoing a finished trial, its best trial reported by `cnnlab sweeps`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from engine_helpers import collect, finished, running_engine, tiny_config, wait_for

from engine.errors import ConfigError
from engine.runs import RunStore
from engine.sweeps import PointStarted, parse_grid
from engine.sweeps.grid import parse_space
from engine.sweeps.search import SearchSpec, build_search, list_searches
from engine.sweeps.search_results import read_search
from engine.trainer.config import FieldRange, TrainConfig, parse_field_range, parse_field_space

REPO = Path(__file__).resolve().parents[1]
pytest.importorskip("optuna", reason="searches need the 'search' extra (optuna)")


def test_ranges_are_read_by_the_one_parser():
    assert parse_field_range("lr", "1e-4..1e-1:log") == FieldRange(1e-4, 0.1, True)
    assert parse_field_range("batch-size", "16..1e3") == FieldRange(16, 1000)
    assert parse_field_range("model.dropout", "0..0.5") == FieldRange(0.0, 0.5)
    assert parse_field_space("batch_size", "32,64,128") == [32, 64, 128]
    assert parse_field_space("model.widths", "[4,8],[8,16]") == [[4, 8], [8, 16]]
    problems = {
        ("batch_size", "1.5..8"): "must be a whole number, got '1.5'",
        ("lr", "0.1..0.01"): "low end must be below",
        ("lr", "0..1:log"): "log range must stay above 0",
        ("optimizer", "adam..sgd"): "only number settings take a range",
        ("lr", "..1"): "a range is LOW..HIGH",
    }
    for (name, text), message in problems.items():
        with pytest.raises(ConfigError) as excinfo:
            parse_field_range(name, text)
        assert message in next(iter(excinfo.value.errors.values()))


def test_a_grid_refuses_a_range_and_names_the_search_flags():
    with pytest.raises(ConfigError) as excinfo:
        parse_grid([("lr", "1e-4..1e-1:log")])
    assert "add --search tpe" in excinfo.value.errors["grid lr"]
    space = parse_space([("lr", "1e-4..1e-1:log"), ("batch-size", "32,64")], "conv")
    assert space == {"lr": FieldRange(1e-4, 0.1, True), "batch_size": [32, 64]}


def test_a_search_is_checked_before_any_trial_runs():
    base = TrainConfig(**tiny_config())
    space = {"lr": FieldRange(1e-4, 0.1, True)}
    with pytest.raises(ConfigError) as excinfo:
        build_search(base, space, trials=4, objective="val_acc")
    assert "needs a validation split" in excinfo.value.errors["objective"]
    with pytest.raises(ConfigError) as excinfo:
        build_search(base, space, trials=4, objective="test_psnr")
    assert "is for dehaze runs" in excinfo.value.errors["objective"]
    with pytest.raises(ConfigError) as excinfo:
        build_search(base, {"lr": FieldRange(1e-4, 20.0)}, trials=0, objective="test_acc")
    assert set(excinfo.value.errors) == {"trials"}
    with pytest.raises(ConfigError) as excinfo:  # a value the range reaches is invalid
        build_search(base, {"lr": FieldRange(1e-4, 20.0)}, trials=3, objective="test_acc")
    assert any(key.startswith("lr (lr=20") for key in excinfo.value.errors)
    spec = build_search(base.replace(val_fraction=0.2), space, trials=4, objective="val_loss")
    again = SearchSpec.from_dict(spec.to_dict())
    assert again == spec and again.search_id == spec.search_id
    assert spec.direction == "minimize" and spec.search_id.startswith("search-conv-")
    assert build_search(base.replace(val_fraction=0.2, lr=0.5), space, trials=4,
                        objective="val_loss").search_id == spec.search_id  # fmt: skip


SEARCH = [
    "sweep", "--search", "tpe", "--trials", "6", "--objective", "val_acc",
    "--dataset", "shapes", "--image-size", "16", "--model", "conv",
    "--model-opt", "widths=8,16", "--epochs", "3", "--max-train-batches", "4",
    "--val-fraction", "0.2", "--device", "cpu",
    "--grid", "lr=1e-5..5e-1:log", "--grid", "batch-size=16,50",
]  # fmt: skip


def _cnnlab(runs: Path, *args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli", *args, "--runs-dir", str(runs)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw,
    )  # fmt: skip


def _finished_trials(runs: Path) -> list:
    searches = list_searches(runs)
    if not searches:
        return []
    try:
        rows = read_search(runs, searches[0].search_id).trials
    except Exception:  # the database is being written: try again
        return []
    return [row for row in rows if row.counted]


@pytest.mark.slow
@pytest.mark.timeout(1200)  # waits up to 360 s for two trials, then 600 s for the resume
def test_a_tpe_search_prunes_survives_kill_9_and_reports_its_best(tmp_path):
    runs = tmp_path / "runs"
    first = _cnnlab(runs, *SEARCH)
    try:
        # the process imports torch and optuna first; on a loaded 2-core CI box two trials
        # took longer than 120 s
        wait_for(
            lambda: len(_finished_trials(runs)) >= 2 or first.poll() is not None,
            "two finished trials", timeout=360,
        )  # fmt: skip
        if len(_finished_trials(runs)) < 2:  # it ended without them: say what it printed
            pytest.fail(f"the search exited {first.poll()}: {first.communicate(timeout=30)[0]}")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    before = {row.number: (row.state, row.run_id) for row in _finished_trials(runs)}
    assert len(before) >= 2
    second = _cnnlab(runs, *SEARCH)
    out, _ = second.communicate(timeout=600)
    assert second.returncode == 0, out
    search_id = list_searches(runs)[0].search_id
    result = read_search(runs, search_id)
    rows = {row.number: row for row in result.trials}
    # nothing finished before the kill ran again, and the search reached its 6 trials
    assert all((rows[n].state, rows[n].run_id) == before[n] for n in before)
    assert result.done == 6
    store = RunStore(runs)
    statuses = {row.run_id: store.get(row.run_id).status for row in result.trials if row.run_id}
    counted = [row for row in result.trials if row.counted]
    assert {statuses[row.run_id] for row in counted} <= {"completed", "pruned"}
    # the trial the kill cut short was failed in the study and its values tried again
    left = [row for row in result.trials if row.state == "failed" and not row.counted]
    if left and len(left[0].params) == 2:  # (the kill may land between trials, or draws)
        retried = [row for row in result.trials if row.params == left[0].params and row.counted]
        assert retried, result.trials
        assert statuses.get(left[0].run_id) in (None, "interrupted")
    assert result.best is not None and result.best.state == "completed"
    listing = _cnnlab(runs, "sweeps")
    text, _ = listing.communicate(timeout=60)
    assert listing.returncode == 0 and "6/6 trials" in text
    assert f"#{result.best.number}" in text
    detail = _cnnlab(runs, "sweeps", search_id[:12])
    text, _ = detail.communicate(timeout=60)
    assert f"best trial #{result.best.number}" in text and "parameter importance" in text


def test_a_trial_worse_than_the_median_is_pruned_and_recorded_pruned(tmp_path):
    import optuna

    from engine.sweeps.search import study_url
    from engine.sweeps.search_runner import SearchRunner

    runs = tmp_path / "runs"
    base = TrainConfig(**tiny_config(epochs=3, val_fraction=0.2, max_train_batches=6))
    spec = build_search(base, {"lr": FieldRange(1e-4, 1.0, True)}, trials=3, objective="val_loss")
    (runs / "sweeps" / spec.search_id).mkdir(parents=True)
    study = optuna.create_study(
        study_name=spec.search_id, storage=study_url(runs, spec.search_id), direction="minimize"
    )
    for lr in (3e-3, 1e-2, 0.3):  # two sensible ones, then one whose val loss explodes
        study.enqueue_trial({"lr": lr})
    events = []
    runner = SearchRunner(spec, runs)
    runner.subscribe(events.append)
    assert runner.run().status == "completed"
    rows = read_search(runs, spec.search_id).trials
    assert [row.state for row in rows] == ["completed", "completed", "pruned"]
    record = RunStore(runs).get(rows[2].run_id)
    assert record.status == "pruned" and len(record.metrics) == 1
    assert "pruned after epoch 1: val_loss" in record.summary["error"]
    assert record.summary["sweep_id"] == spec.search_id  # grouped like a sweep's member
    ends = [e for e in events if type(e).__name__ == "PointFinished"]
    assert [e.status for e in ends] == ["completed", "completed", "pruned"]


@pytest.mark.slow
def test_the_engine_runs_a_search_s_trials_on_two_lanes_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    runs = tmp_path / "runs"
    base = TrainConfig(**tiny_config(epochs=2, val_fraction=0.2))
    spec = build_search(base, {"lr": FieldRange(1e-3, 1e-2, True)}, trials=4, objective="val_loss")
    with running_engine(runs, cpu_lanes=2) as client, client.subscribe() as updates:
        entry = client.submit_search(spec.to_dict())
        assert entry["kind"] == "search" and spec.search_id in entry["label"]
        got = collect(updates, finished(entry["queue_id"]))
    lanes = {u.event.lane for u in got if isinstance(u.event, PointStarted)}
    assert lanes == {"cpu-1", "cpu-2"}
    end = got[-1].event
    assert end.status == "completed" and len(end.run_ids) == 4
    assert read_search(runs, spec.search_id).done == 4


def test_a_search_someone_else_runs_is_refused(tmp_path):
    import fcntl

    from engine.sweeps.search import search_dir
    from engine.sweeps.search_runner import SearchBusy, SearchRunner

    runs = tmp_path / "runs"
    spec = build_search(
        TrainConfig(**tiny_config()), {"lr": FieldRange(1e-3, 1e-2)}, trials=1,
        objective="test_acc",
    )  # fmt: skip
    folder = search_dir(runs, spec.search_id)
    folder.mkdir(parents=True)
    with open(folder / "lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        started = time.monotonic()
        with pytest.raises(SearchBusy, match="already running"):
            SearchRunner(spec, runs).run()
        assert time.monotonic() - started < 5


def test_search_ids_from_before_a_setting_was_added_still_match():
    """The id the code before `nproc_per_node` gave this search (a search typed again
    after an upgrade resumes rather than starting over)."""
    from engine.sweeps.search import SearchSpec
    from engine.trainer.config import TrainConfig

    spec = SearchSpec(TrainConfig(epochs=2), {"lr": [0.1, 0.01]}, 4, "test_acc")
    assert spec.search_id == "search-conv-8e3b5a4c65"
