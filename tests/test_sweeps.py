"""Sweeps: grid parsing and expansion, aggregation over seeds, and resumable runs."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from engine.errors import ConfigError
from engine.sweeps import (
    SweepSpec,
    aggregate,
    differing_fields,
    expand_grid,
    group_runs_by_sweep,
    mean_std,
    parse_grid_values,
    parse_seeds,
)
from engine.sweeps.grid import FieldType, split_values

FIELD_TYPES = {
    "lr": FieldType(float),
    "batch_size": FieldType(int),
    "amp": FieldType(bool),
    "max_train_batches": FieldType(int, optional=True),
    "optimizer": FieldType(str, choices=("adam", "sgd")),
    "model_options": FieldType(dict),
    "seed": FieldType(int),
}
MODEL_OPTIONS = {"widths": [8, 16], "kernel_size": 3, "dropout": 0.0, "conv_impl": "torch"}


# --- grid parsing ---------------------------------------------------------------------


def test_grid_values_parse_like_cli_flags():
    assert parse_grid_values("lr", "1e-2, 1e-3", FIELD_TYPES) == ("lr", [0.01, 0.001])
    assert parse_grid_values("batch-size", "32,1e2", FIELD_TYPES) == ("batch_size", [32, 100])
    assert parse_grid_values("amp", "true,no", FIELD_TYPES)[1] == [True, False]
    assert parse_grid_values("max-train-batches", "none,2", FIELD_TYPES)[1] == [None, 2]


def test_model_options_parse_lists_in_brackets_and_match_default_types():
    name, values = parse_grid_values("model.widths", "[4,8],[8,16]", FIELD_TYPES, MODEL_OPTIONS)
    assert (name, values) == ("model.widths", [[4, 8], [8, 16]])
    _, values = parse_grid_values("model.dropout", "0,0.5", FIELD_TYPES, MODEL_OPTIONS)
    assert values == [0.0, 0.5] and all(isinstance(v, float) for v in values)
    _, values = parse_grid_values("model.kernel-size", "3,5", FIELD_TYPES, MODEL_OPTIONS)
    assert values == [3, 5]


def test_split_values_respects_brackets():
    assert split_values("[1,2,5],[2,4]") == ["[1,2,5]", "[2,4]"]
    with pytest.raises(ValueError, match="unbalanced"):
        split_values("[1,2")


@pytest.mark.parametrize(
    ("key", "text", "named"),
    [
        ("learning-rate", "0.1", "learning_rate"),  # not a field
        ("seed", "1,2", "--seeds"),  # seeds have their own flag
        ("batch-size", "32,3.5", "3.5"),  # not a whole number
        ("lr", "0.1,abc", "abc"),
        ("optimizer", "adam,rmsprop", "rmsprop"),
        ("lr", "0.1,,0.2", "empty"),
        ("lr", "0.1,0.1", "repeated"),
        ("model.depth", "2,3", "depth"),  # the model has no such option
        ("model.kernel_size", "3,big", "big"),
        ("model_options", "a", "model_options"),
    ],
)
def test_bad_grid_key_or_value_names_it(key, text, named):
    with pytest.raises(ConfigError) as info:
        parse_grid_values(key, text, FIELD_TYPES, MODEL_OPTIONS)
    assert named in str(info.value)


def test_seeds_are_a_count_or_a_list():
    assert parse_seeds("3") == [0, 1, 2]
    assert parse_seeds("3", base_seed=10) == [10, 11, 12]
    assert parse_seeds("0,5,7") == [0, 5, 7]
    assert parse_seeds(2) == [0, 1]
    for bad in ("0", "a", "1,1", ""):
        with pytest.raises(ConfigError, match="seed"):
            parse_seeds(bad)


def test_expand_grid_is_the_product_times_seeds_with_seeds_innermost():
    points = expand_grid({"lr": [0.1, 0.01], "batch_size": [32, 64, 128]}, seeds=[0, 1])
    assert len(points) == 2 * 3 * 2
    assert [p.index for p in points] == list(range(12))
    assert points[0].setting == {"lr": 0.1, "batch_size": 32} and points[0].seed == 0
    assert points[1].setting == points[0].setting and points[1].seed == 1
    assert points[2].setting == {"lr": 0.1, "batch_size": 64}
    assert len({(p.label, p.seed) for p in points}) == 12
    assert [p.seed for p in expand_grid({}, seeds=[3, 4])] == [3, 4]


def test_sweep_id_is_stable_for_the_same_spec_and_changes_with_it():
    spec = SweepSpec(None, {"epochs": 2}, {"lr": [0.1, 0.01]}, [0, 1])
    assert spec.sweep_id == SweepSpec.from_dict(spec.to_dict()).sweep_id
    assert spec.sweep_id.startswith("sweep-conv-")
    # a default typed out explicitly is the same experiment, so the same sweep
    explicit = SweepSpec(None, {"epochs": 2, "model": "conv"}, {"lr": [0.1, 0.01]}, [0, 1])
    assert explicit.sweep_id == spec.sweep_id
    for other in (
        SweepSpec(None, {"epochs": 2}, {"lr": [0.1]}, [0, 1]),
        SweepSpec(None, {"epochs": 3}, {"lr": [0.1, 0.01]}, [0, 1]),
        SweepSpec(None, {"epochs": 2}, {"lr": [0.1, 0.01]}, [0, 1, 2]),
    ):
        assert other.sweep_id != spec.sweep_id


# --- aggregation ------------------------------------------------------------------------


@dataclass
class FakeRecord:
    run_id: str
    config: dict[str, Any]
    metrics: list[dict[str, Any]]
    status: str = "completed"
    summary: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def _record(run_id, lr, seed, accs, status="completed", sweep=None, index=0):
    rows = [
        {"epoch": e + 1, "test_acc": a, "train_loss": 1 - a, "seconds": 2.0}
        for e, a in enumerate(accs)
    ]
    summary: dict[str, Any] = {"params": 100}
    if sweep:
        summary["sweep_id"] = sweep
        summary["sweep_point"] = {"index": index, "setting": {"lr": lr}, "seed": seed}
    config = {"lr": lr, "seed": seed, "name": f"n{seed}", "model": "conv", "model_options": {}}
    return FakeRecord(run_id, config, rows, status, summary)


def test_mean_std_is_the_sample_std_and_skips_non_finite():
    stats = mean_std([1.0, 2.0, 3.0, float("nan"), None])
    assert stats.n == 3 and stats.mean == pytest.approx(2.0) and stats.std == pytest.approx(1.0)
    assert mean_std([5.0]).std == 0.0
    assert mean_std([]).n == 0 and mean_std([]).format() == "–"
    assert mean_std([0.5, 0.7]).format(1, scale=100) == "60.0 ± 14.1"


def test_aggregate_gives_mean_and_std_per_setting_and_epoch():
    records = [
        _record("a", 0.1, 0, [0.5, 0.7]),
        _record("b", 0.1, 1, [0.7, 0.9]),
        _record("c", 0.01, 0, [0.2, 0.4]),
        _record("d", 0.01, 1, [0.4, 0.4], status="failed"),  # left out: a completed run exists
    ]
    assert differing_fields(records) == ["lr"]  # seed and name never define a setting
    by_label = {agg.label: agg for agg in aggregate(records)}
    assert list(by_label) == ["lr=0.1", "lr=0.01"]
    high = by_label["lr=0.1"]
    assert high.curves["test_acc"].epochs == [1, 2]
    assert high.curves["test_acc"].mean == pytest.approx([0.6, 0.8])
    assert high.curves["test_acc"].std == pytest.approx([math.sqrt(0.02)] * 2)
    assert high.final["test_acc"].mean == pytest.approx(0.8) and high.final["test_acc"].n == 2
    assert high.final["seconds_per_epoch"].mean == pytest.approx(2.0)
    assert high.seeds == [0, 1]
    low = by_label["lr=0.01"]
    assert low.run_ids == ["c"] and low.final["test_acc"].std == 0.0


def test_group_runs_by_sweep_keeps_the_completed_run_of_a_rerun_point():
    records = [
        _record("r1", 0.1, 0, [0.5], sweep="sweep-x", index=0),
        _record("r2", 0.1, 0, [0.1], status="interrupted", sweep="sweep-x", index=0),
        _record("r3", 0.01, 0, [0.3], sweep="sweep-x", index=1),
        _record("r4", 0.01, 0, [0.3]),  # not in a sweep
    ]
    (group,) = group_runs_by_sweep(records)
    assert group.sweep_id == "sweep-x" and group.swept_fields == ["lr"]
    assert [r.run_id for r in group.records] == ["r1", "r3"]
    assert [r.run_id for r in group.superseded] == ["r2"]


# --- parallel -------------------------------------------------------------------------


def test_parallel_needs_several_cuda_devices(monkeypatch):
    import torch

    from engine.sweeps import effective_parallel

    assert effective_parallel(1, "auto") == (1, None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    count, note = effective_parallel(3, "auto")
    assert count == 1 and "no CUDA device" in note and "one after another" in note
    assert effective_parallel(2, "cpu")[0] == 1
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert effective_parallel(2, "auto") == (2, None)
    count, note = effective_parallel(4, "cuda")
    assert count == 2 and "only 2 CUDA devices" in note


# --- end to end: real (tiny) training on `shapes` -----------------------------------------

TINY = {
    "dataset": "shapes",
    "image_size": 16,
    "epochs": 2,
    "batch_size": 32,
    "max_train_batches": 3,
    "model": "conv",
    "model_options": {"widths": [4, 8]},
    "device": "cpu",
}


def _spec(grid: list[tuple[str, str]], seeds=(0, 1)):
    from engine.sweeps import build_spec

    return build_spec(None, dict(TINY), grid, list(seeds))


def _run(spec, runs_dir: Path) -> tuple[Any, list[Any]]:
    from engine.sweeps import SweepRunner

    runner = SweepRunner(spec, runs_dir)
    events: list[Any] = []
    runner.subscribe(events.append)
    return runner.run(), events


@pytest.fixture(scope="module")
def two_sweeps(tmp_path_factory):
    """Two tiny sweeps in one run store: lr × 2 seeds and kernel size × 2 seeds."""
    runs_dir = tmp_path_factory.mktemp("sweeps") / "runs"
    lr_spec = _spec([("lr", "1e-2,1e-3")])
    kernel_spec = _spec([("model.kernel-size", "3,5")])
    outcomes = [_run(spec, runs_dir)[0] for spec in (lr_spec, kernel_spec)]
    return runs_dir, lr_spec, kernel_spec, outcomes


@pytest.mark.slow
def test_a_sweep_runs_every_point_and_tags_its_runs(two_sweeps):
    from engine.runs import RunStore
    from engine.sweeps import load_state, sweep_progress

    runs_dir, lr_spec, _, outcomes = two_sweeps
    assert [o.status for o in outcomes] == ["completed", "completed"]
    assert [o.completed for o in outcomes] == [4, 4]
    store = RunStore(runs_dir)
    (group,) = [g for g in group_runs_by_sweep(store.list_runs()) if g.sweep_id == lr_spec.sweep_id]
    assert group.swept_fields == ["lr"] and len(group.records) == 4
    seen = {(r.config["lr"], r.config["seed"]) for r in group.records}
    assert seen == {(0.01, 0), (0.01, 1), (0.001, 0), (0.001, 1)}
    assert all(r.summary["sweep_point"]["setting"]["lr"] == r.config["lr"] for r in group.records)
    state = load_state(runs_dir, lr_spec.sweep_id)
    assert [p.run_id for p in state.points] == [r.run_id for r in group.records]
    assert sweep_progress(store, lr_spec.sweep_id).text == "4/4 runs"


@pytest.mark.slow
def test_rerunning_resumes_only_the_unfinished_points(two_sweeps, tmp_path):
    import shutil

    from engine.runs import RunStore
    from engine.runs.files import read_json, write_json_atomic
    from engine.sweeps import PointStarted, load_state

    source, lr_spec, _, _ = two_sweeps
    runs_dir = tmp_path / "runs"
    shutil.copytree(source, runs_dir)
    points = load_state(runs_dir, lr_spec.sweep_id).points
    # point 1: its process "died" mid-run; point 2: its folder was deleted
    summary_path = runs_dir / points[1].run_id / "summary.json"
    summary = read_json(summary_path)
    summary.update(status="running", pid=2**22 + 12345)  # no such process
    write_json_atomic(summary_path, summary)
    assert RunStore(runs_dir).get(points[1].run_id).status == "interrupted"
    shutil.rmtree(runs_dir / points[2].run_id)
    untouched = {p.run_id: (runs_dir / p.run_id / "metrics.jsonl").read_text() for p in points[::3]}

    outcome, events = _run(lr_spec, runs_dir)

    assert outcome.status == "completed" and outcome.completed == 4
    assert sorted(e.index for e in events if isinstance(e, PointStarted)) == [1, 2]
    after = load_state(runs_dir, lr_spec.sweep_id).points
    assert after[1].attempts[0] == points[1].run_id and len(after[1].attempts) == 2
    assert [p.run_id for p in after[::3]] == [p.run_id for p in points[::3]]
    for run_id, metrics in untouched.items():
        assert (runs_dir / run_id / "metrics.jsonl").read_text() == metrics
    (group,) = [g for g in group_runs_by_sweep(RunStore(runs_dir).list_runs())
                if g.sweep_id == lr_spec.sweep_id]  # fmt: skip
    assert [r.run_id for r in group.records] == [p.run_id for p in after]
    assert [r.run_id for r in group.superseded] == [points[1].run_id]


@pytest.mark.slow
def test_cli_report_on_two_sweeps_meets_the_bar(two_sweeps, tmp_path, capsys):
    """Every referenced PNG opens, mean ± std per setting, and --lang zh changes headings."""
    import re

    from PIL import Image

    from engine.cli import main

    runs_dir, lr_spec, kernel_spec, _ = two_sweeps
    reports = {}
    for lang in ("en", "zh"):
        out = tmp_path / lang
        args = ["report", lr_spec.sweep_id, kernel_spec.sweep_id, "--out", str(out)]
        assert main([*args, "--runs-dir", str(runs_dir), "--lang", lang]) == 0
        reports[lang] = (out / "report.md").read_text(encoding="utf-8")
    english, chinese = reports["en"], reports["zh"]
    links = re.findall(r"!\[[^\]]*\]\((figures/[^)]+\.png)\)", english)
    assert len(links) >= 4 + 4 * 2
    for link in links:
        with Image.open(tmp_path / "en" / link) as image:
            image.verify()
    rows = [line for line in english.splitlines() if re.match(r"\| S\d+ \|", line)]
    assert len(rows) == 4  # 2 settings per sweep
    for row in rows:
        assert "0, 1" in row and re.search(r"\d+\.\d\d ± \d+\.\d\d", row)
    assert "cnnlab sweep " in english and "--grid lr=0.01,0.001" in english
    headings = lambda text: re.findall(r"^## (.*)$", text, flags=re.M)  # noqa: E731
    assert "Results" in headings(english) and "实验结果" in headings(chinese)
    assert not set(headings(english)) & set(headings(chinese))
    # `latest` is the newest run, never the runs/sweeps/ state folder
    assert (
        main(["report", "latest", "--out", str(tmp_path / "one"), "--runs-dir", str(runs_dir)]) == 0
    )
    assert "1 run(s)" in " ".join(capsys.readouterr().out.split())


@pytest.mark.slow
def test_cli_sweep_dry_run_shows_the_resumed_plan_and_bad_keys_exit_2(two_sweeps, capsys):
    from engine.cli import main

    runs_dir, lr_spec, _, _ = two_sweeps
    flags = ["--image-size", "16", "--epochs", "2", "--batch-size", "32", "--device", "cpu",
             "--max-train-batches", "3", "--model-opt", "widths=4,8"]  # fmt: skip
    args = ["sweep", *flags, "--grid", "lr=1e-2,1e-3", "--seeds", "2"]
    assert main([*args, "--runs-dir", str(runs_dir), "--dry-run"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps at 80 columns in a pipe
    assert lr_spec.sweep_id in out and "4 already completed, 0 to run" in out
    assert main(["sweep", "--grid", "learning-rate=1,2", "--runs-dir", str(runs_dir)]) == 2
    assert "learning_rate" in capsys.readouterr().out
    assert main(["sweep", "--grid", "lr=0.1,abc", "--runs-dir", str(runs_dir)]) == 2
    assert "abc" in capsys.readouterr().out


def test_build_spec_rejects_a_key_set_twice_and_checks_options_per_point():
    from engine.sweeps import build_spec, planned_configs

    with pytest.raises(ConfigError, match="--model-opt widths"):
        build_spec(None, {"model_options": {"widths": [4]}}, [("model.widths", "[4],[8]")], [0])
    with pytest.raises(ConfigError, match="--lr"):
        build_spec(None, {"lr": 0.1}, [("lr", "0.1,0.2")], [0])
    with pytest.raises(ConfigError, match="given twice"):
        build_spec(None, {}, [("lr", "0.1"), ("lr", "0.2")], [0])
    # sweeping the model itself: each point's options are checked against its own model
    spec = build_spec(None, {}, [("model", "conv,mlp"), ("model.widths", "[4,8]")], [0])
    with pytest.raises(ConfigError) as info:
        planned_configs(spec)
    assert "model_options (model=mlp model.widths=[4,8])" in info.value.errors
    assert not any("model=conv" in key for key in info.value.errors)


@pytest.mark.slow
def test_cancel_stops_the_sweep_and_failed_points_are_counted(tmp_path):
    from engine.sweeps import PointFinished, SweepRunner, build_spec
    from engine.trainer.events import EpochEnd

    spec = _spec([("lr", "1e-2,1e-3")], seeds=[0])
    runner = SweepRunner(spec, tmp_path / "runs")
    finished: list[Any] = []

    def cancel_at_first_epoch(event: Any) -> None:
        if isinstance(event, EpochEnd):
            runner.cancel()
        if isinstance(event, PointFinished):
            finished.append(event)

    runner.subscribe(cancel_at_first_epoch)
    outcome = runner.run()
    assert outcome.status == "cancelled" and outcome.completed == 0
    assert [(e.index, e.status) for e in finished] == [(0, "cancelled")]  # point 1 never ran

    empty = tmp_path / "no-images"
    empty.mkdir()
    broken = build_spec(None, {**TINY, "dataset": "vehicles", "data_root": str(empty)},
                        [("lr", "1e-2,1e-3")], [0])  # fmt: skip
    outcome, events = _run(broken, tmp_path / "runs")
    assert outcome.status == "incomplete" and outcome.failed == 2
    errors = [e.error for e in events if isinstance(e, PointFinished)]
    assert len(errors) == 2 and all(errors)
