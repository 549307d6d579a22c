"""Smoke tests of the benchmark scripts: argument checks and output at a tiny size (never
timed — the numbers themselves are for the README, not for CI)."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def bench(monkeypatch):
    """Import a benchmark script as a module (they import their `_harness` sibling)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module


def test_bench_ops_rejects_unknown_shapes_and_bad_repeats(bench, capsys):
    bench_ops = bench("bench_ops")
    with pytest.raises(SystemExit):
        bench_ops.parse_args(["--shapes", "c1,c99"])
    assert "c99" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench_ops.parse_args(["--repeats", "0"])
    assert bench_ops.parse_args(["--quick"]).divisor == 8
    assert bench_ops.parse_args([]).divisor == 1


def test_bench_ops_prints_a_row_per_chosen_shape_and_the_worst_ratio(bench, capsys):
    bench_ops = bench("bench_ops")
    # c7 and p3 are the smallest cases at --quick size; one repeat, one thread.
    code = bench_ops.main(["--shapes", "c7,p3", "--quick", "--repeats", "1", "--threads", "1",
                           "--no-loop"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "threads 1" in out and "torch " in out and "CPU:" in out
    rows = [line for line in out.splitlines() if line.startswith(("c7 ", "p3 "))]
    assert [r.split()[0] for r in rows] == ["c7", "p3"]
    assert "(16,128,16,16)→256 k3 s2 p1" in rows[0]  # --quick divides N by 8
    assert out.count("worst ratio:") == 2
    ratio = float(rows[0].split()[-1])
    assert ratio > 0


def test_bench_ops_loop_comparison_reports_equal_outputs(bench):
    line = bench("bench_ops").loop_speedup(channels_last=False)
    assert "faster (same outputs)" in line


def test_bench_train_split_is_cnnlabs_vehicle_split(bench, vehicles_root):
    train, test = bench("bench_train").lab_split(vehicles_root)
    assert (len(train), len(test)) == (1017, 340)  # the engine's vehicles counts
    assert not set(train) & set(test)
    assert "bus/bus218.jpg" in test and "bus/bus001.jpg" in train


def test_bench_train_rejects_bad_arguments(bench, tmp_path):
    bench_train = bench("bench_train")
    with pytest.raises(SystemExit):
        bench_train.parse_args(["--data-root", str(tmp_path / "missing")])
    with pytest.raises(SystemExit):
        bench_train.parse_args(["--data-root", str(tmp_path), "--epochs", "0"])
    assert bench_train.parse_args(["--data-root", str(tmp_path), "--quick"]).epochs == 1


def test_bench_tui_reads_epoch_seconds_from_the_run_folder(bench, tmp_path):
    bench_tui = bench("bench_tui")
    rows = [{"epoch": 1, "seconds": 1.5, "train_loss": 1.0}, {"epoch": 2, "seconds": 2.25}]
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert bench_tui.epoch_seconds(tmp_path) == [1.5, 2.25]
    with pytest.raises(SystemExit):
        bench_tui.parse_args(["--data-root", str(tmp_path), "--rounds", "0"])


def test_bench_train_model_floor_times_the_arithmetic_alone(bench):
    seconds = bench("bench_train").model_floor(64, 32, 32, 16, "cpu", repeats=1)
    assert 0 < seconds < 60


def _tiny_cifar(root: Path, per_class: int = 3) -> Path:
    from PIL import Image

    classes = ["airplane", "automobile", "bird", "cat", "deer"]
    classes += ["dog", "frog", "horse", "ship", "truck"]
    for split, count in (("train", per_class), ("test", 2)):
        for index, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                colour = (index * 25, i * 60, 128)
                Image.new("RGB", (32, 32), colour).save(folder / f"{i:04d}.jpg")
    return root


@pytest.mark.slow
def test_bench_gpu_recipes_print_a_row_per_variant_on_the_cpu(bench, tmp_path, capsys):
    bench_gpu = bench("bench_gpu")
    root = _tiny_cifar(tmp_path / "cifar10")
    with pytest.raises(SystemExit):
        bench_gpu.parse_args(["--data-root", str(root), "--epochs", "1"])
    code = bench_gpu.main(
        ["--data-root", str(root), "--device", "cpu", "--quick", "--only", "recipes"]
    )
    out = capsys.readouterr().out
    assert code == 0 and "device: cpu" in out
    table = out.split("cifar10-fast and variants", 1)[1].splitlines()
    rows = [line for line in table if line.startswith("cifar10-fast")]
    assert len(rows) == len(bench_gpu.RECIPE_VARIANTS)
    assert all(" completed " in row for row in rows)


def test_bench_startup_needs_five_repeats_and_writes_readable_runs(bench, tmp_path, capsys):
    from engine.runs import RunStore

    bench_startup = bench("bench_startup")
    with pytest.raises(SystemExit):
        bench_startup.parse_args(["--repeats", "3"])
    assert "at least 5" in capsys.readouterr().err
    assert bench_startup.parse_args([]).runs == 50
    bench_startup.write_runs(tmp_path / "runs", 3)
    records = RunStore(tmp_path / "runs").list_runs()
    assert [r.status for r in records] == ["completed"] * 3
    assert all(r.damaged is None and len(r.metrics) == 3 for r in records)
    bench_startup.tag_sweep(tmp_path / "runs")
    from engine.sweeps.aggregate import group_runs_by_sweep

    groups = group_runs_by_sweep(RunStore(tmp_path / "runs").list_runs())
    assert [(g.sweep_id, len(g.records)) for g in groups] == [(bench_startup.SWEEP_ID, 3)]


def test_bench_startup_data_root_is_what_the_probes_read(bench, tmp_path):
    from engine.datasets import probe_dataset

    bench("bench_startup").write_data_root(tmp_path)
    found = {name: probe_dataset(name, tmp_path) for name in ("vehicles", "dehaze", "cifar10")}
    assert {name: (s.state, s.count) for name, s in found.items()} == {
        "vehicles": ("found", 900),
        "dehaze": ("found", 200),
        "cifar10": ("found", 200),
    }


def test_bench_lanes_checks_its_arguments(bench, capsys):
    bench_lanes = bench("bench_lanes")
    for bad in (["--points", "0"], ["--lanes", "0"], ["--rounds", "0"]):
        with pytest.raises(SystemExit):
            bench_lanes.parse_args(bad)
    assert "must be ≥ 1" in capsys.readouterr().err
    spec = bench_lanes.sweep_spec(4, 2, None, [4, 8])
    lrs = [point.setting["lr"] for point in spec.points()]
    assert lrs == pytest.approx([1e-3, 2e-3, 3e-3, 4e-3])


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_bench_lanes_times_both_engines_and_prints_the_ratio(bench, capsys):
    from engine.service.lanes import machine_cores

    if machine_cores() < 2:
        pytest.skip("two lanes need two cores")
    code = bench("bench_lanes").main(["--points", "2", "--epochs", "1", "--batches", "2",
                                      "--rounds", "1", "--widths", "4,8"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    two = next(line for line in out.splitlines() if line.startswith("2 "))
    threads = [int(n) for n in re.findall(r"cpu-\d: (\d+) threads", two)]
    assert len(threads) == 2 and sum(threads) <= machine_cores()  # no over-subscription
    assert float(out.split("ratio (2 lanes / 1 lane):")[1].split()[0]) > 0
