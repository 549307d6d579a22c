"""Sweeps: grid parsing and expansion, aggregation over seeds, and resumable runs."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from engine.errors import ConfigError
from engine.presets import resolve_config
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
from engine.trainer.config import split_values

# --- grid parsing ---------------------------------------------------------------------


def test_grid_values_parse_like_cli_flags():
    assert parse_grid_values("lr", "1e-2, 1e-3") == ("lr", [0.01, 0.001])
    assert parse_grid_values("batch-size", "32,1e2") == ("batch_size", [32, 100])
    assert parse_grid_values("amp", "true,no")[1] == [True, False]
    assert parse_grid_values("max-train-batches", "none,2")[1] == [None, 2]


def test_model_options_parse_lists_in_brackets_and_match_the_option_types():
    name, values = parse_grid_values("model.widths", "[4,8],[8,16]", "conv")
    assert (name, values) == ("model.widths", [[4, 8], [8, 16]])
    _, values = parse_grid_values("model.dropout", "0,0.5", "alexnet")
    assert values == [0.0, 0.5] and all(isinstance(v, float) for v in values)
    _, values = parse_grid_values("model.kernel-size", "3,5", "conv")
    assert values == [3, 5]
    _, values = parse_grid_values("model.widths", "4,8", "conv")  # one-item lists
    assert values == [[4], [8]]


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
        ("lr", "0.1,,0.2", "empty"),
        ("lr", "0.1,0.1", "repeated"),
        ("model.depth", "2,3", "depth"),  # the model has no such option
        ("model.kernel_size", "3,big", "big"),
        ("model.kernel_size", "3,0", "≥ 1"),  # the option's own bounds
        ("model_options", "a", "model_options"),
    ],
)
def test_bad_grid_key_or_value_names_it(key, text, named):
    with pytest.raises(ConfigError) as info:
        parse_grid_values(key, text, "conv")
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


def _spec_of(overrides, grid, seeds, preset=None):
    return SweepSpec(resolve_config(preset, overrides), grid, seeds)


def test_sweep_id_is_stable_for_the_same_spec_and_changes_with_it():
    spec = _spec_of({"epochs": 2}, {"lr": [0.1, 0.01]}, [0, 1])
    assert spec.sweep_id == SweepSpec.from_dict(spec.to_dict()).sweep_id
    assert spec.sweep_id.startswith("sweep-conv-")
    # a default typed out explicitly is the same experiment, so the same sweep
    explicit = _spec_of({"epochs": 2, "model": "conv"}, {"lr": [0.1, 0.01]}, [0, 1])
    assert explicit.sweep_id == spec.sweep_id
    # so is a base whose swept field or seed holds another value: every point sets them
    assert _spec_of({"epochs": 2, "lr": 0.5, "seed": 7}, {"lr": [0.1, 0.01]}, [0, 1]).sweep_id == (
        spec.sweep_id
    )
    for other in (
        _spec_of({"epochs": 2}, {"lr": [0.1]}, [0, 1]),
        _spec_of({"epochs": 3}, {"lr": [0.1, 0.01]}, [0, 1]),
        _spec_of({"epochs": 2}, {"lr": [0.1, 0.01]}, [0, 1, 2]),
    ):
        assert other.sweep_id != spec.sweep_id


def test_sweep_ids_and_state_files_from_before_specs_carried_a_config_still_match():
    """Ids printed by the code that kept `preset` + `overrides` in the spec (and its state
    files) are what the same sweep gets now, so old sweeps resume instead of restarting."""
    old_state_spec = {"preset": None, "overrides": {"epochs": 2}, "grid": {"lr": [0.1, 0.01]},
                      "seeds": [0, 1]}  # fmt: skip
    assert SweepSpec.from_dict(old_state_spec).sweep_id == "sweep-conv-466747f8ee"
    assert _spec_of({"epochs": 2}, {"lr": [0.1, 0.01]}, [0, 1]).sweep_id == "sweep-conv-466747f8ee"
    dilated = _spec_of(
        {"epochs": 1, "device": "cpu"}, {"model.dilations": [[1, 2, 5], [2, 4, 6]]}, [0, 1],
        preset="lab-dilated",
    )  # fmt: skip
    assert dilated.sweep_id == "sweep-lab-dilated-a05fe58214"
    assert dilated.base.model_options == {"dilations": [1, 2, 5]}  # the preset's, not swept


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


def _spec(grid: list[tuple[str, str]], seeds=(0, 1), **changes):
    from engine.sweeps import build_spec, parse_grid

    base = resolve_config(None, {**TINY, **changes})
    return build_spec(base, parse_grid(grid, base.model), list(seeds))


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


def test_cli_sweep_refuses_a_key_set_twice(tmp_path, capsys):
    from engine.cli import main
    from engine.sweeps import parse_grid

    runs = ["--runs-dir", str(tmp_path), "--dry-run"]
    assert main(["sweep", "--model-opt", "widths=4", "--grid", "model.widths=[4],[8]", *runs]) == 2
    assert "--model-opt widths" in capsys.readouterr().out
    assert main(["sweep", "--lr", "0.1", "--grid", "lr=0.1,0.2", *runs]) == 2
    assert "--lr" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="given twice"):
        parse_grid([("lr", "0.1"), ("lr", "0.2")])


def test_planned_configs_check_every_point_against_its_own_model():
    from engine.sweeps import build_spec, parse_grid, planned_configs

    base = resolve_config()
    # sweeping the model itself: each point's options are checked against its own model
    grid = parse_grid([("model", "conv,mlp"), ("model.widths", "[4,8]")], base.model)
    with pytest.raises(ConfigError) as info:
        planned_configs(build_spec(base, grid, [0]))
    assert "model_options (model=mlp model.widths=[4,8])" in info.value.errors
    assert not any("model=conv" in key for key in info.value.errors)
    # a value the field does not allow is named with its point
    grid = parse_grid([("optimizer", "adam,rmsprop")])
    with pytest.raises(ConfigError) as info:
        planned_configs(build_spec(base, grid, [0]))
    assert "rmsprop" in info.value.errors["optimizer (optimizer=rmsprop)"]


@pytest.mark.slow
def test_cancel_stops_the_sweep_and_failed_points_are_counted(tmp_path):
    from engine.events import EpochEnd
    from engine.sweeps import PointFinished, SweepRunner

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
    broken = _spec([("lr", "1e-2,1e-3")], [0], dataset="vehicles", data_root=str(empty))
    outcome, events = _run(broken, tmp_path / "runs")
    assert outcome.status == "incomplete" and outcome.failed == 2
    errors = [e.error for e in events if isinstance(e, PointFinished)]
    assert len(errors) == 2 and all(errors)


def test_interrupt_ends_the_point_interrupted_and_rerunning_resumes(tmp_path):
    """What the engine does to a sweep on SIGTERM: the run in progress ends `interrupted`
    (with the reason), no later point starts, and the same spec picks up again."""
    from engine.events import EpochEnd
    from engine.runs import RunStore
    from engine.sweeps import PointFinished, SweepRunner

    spec = _spec([("lr", "1e-2,1e-3")], seeds=[0])
    runner = SweepRunner(spec, tmp_path / "runs")
    finished: list[Any] = []

    def interrupt_at_first_epoch(event: Any) -> None:
        if isinstance(event, EpochEnd):
            runner.interrupt("interrupted by SIGTERM to the engine")
        if isinstance(event, PointFinished):
            finished.append(event)

    runner.subscribe(interrupt_at_first_epoch)
    outcome = runner.run()
    assert outcome.status == "interrupted"
    assert [(e.index, e.status) for e in finished] == [(0, "interrupted")]
    [record] = RunStore(tmp_path / "runs").list_runs()
    assert record.status == "interrupted"
    assert record.summary["error"] == "interrupted by SIGTERM to the engine"
    again, _ = _run(spec, tmp_path / "runs")
    assert again.status == "completed" and again.completed == 2
