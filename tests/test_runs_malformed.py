"""Run files with malformed fields: every CLI reader lists the run as damaged, with the
field named, and keeps listing the others (property-based: any JSON value in any field,
random bytes in any file).

Each example rewrites one file of one run (BAD) beside an intact run (GOOD) and runs
`cnnlab runs`, `show`, `compare` (and, for fewer examples, `report`) in-process.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tui_store_helpers import write_run

from engine.cli import main
from engine.runs import RunStore, read_run
from engine.sweeps.state import sweeps_dir
from engine.trainer.config import config_fields

GOOD = "20250101-100000-conv-shapes-good"
BAD = "20250101-110000-conv-shapes-bad0"

NASTY_TEXT = st.sampled_from(
    ["[/]", "[red]x", "[bold", "\ud800", "a\x00b", "\x1b[31m", "", "x" * 300, "../../etc"]
)
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | NASTY_TEXT
)
JSON_VALUES = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
# Every field of summary.json in the run-store contract (docs/architecture.md), and a new one.
SUMMARY_KEYS = [
    "run_id", "name", "status", "task", "dataset", "model", "preset", "config", "epochs",
    "epochs_completed", "final", "best", "train_seconds", "images_per_second", "params",
    "device", "torch_version", "error", "pid", "host", "started_at", "updated_at",
    "finished_at", "num_train", "num_test", "classes", "per_class_acc", "confusion",
    "samples", "sweep_id", "sweep_point", "something_new",
]  # fmt: skip
METRIC_KEYS = ["epoch", "test_acc", "train_loss", "seconds", "per_class_acc", "confusion", "new"]
FILES = ["summary.json", "config.json", "metrics.jsonl", "sweep.json"]
FAST = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """A runs folder with GOOD and BAD, both intact, to copy BAD's files from."""
    runs = tmp_path_factory.mktemp("pristine") / "runs"
    write_run(runs, GOOD, lr=0.01, epochs=2)
    write_run(runs, BAD, lr=0.001, epochs=3)
    return runs


@pytest.fixture(scope="module")
def store(pristine, tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("store") / "runs"
    shutil.copytree(pristine, runs)
    return runs


def _restore(store: Path, pristine: Path) -> None:
    shutil.rmtree(store / BAD)
    shutil.copytree(pristine / BAD, store / BAD)


def _dump(value) -> str:
    return json.dumps(value, allow_nan=True)  # NaN/Infinity tokens: json.load accepts them


def _set_json_field(path: Path, key: str, value) -> None:
    data = json.loads(path.read_text())
    data[key] = value
    path.write_text(_dump(data))


def _readers(store: Path, capsys) -> dict[str, str]:
    """Run every CLI reader; each must exit 0 and print something."""
    outputs = {}
    for name, args in {
        "runs": ["runs", "--wide"],  # the full ids; the default table shows short handles
        "runs-narrow": ["runs"],
        "show-bad": ["show", BAD],
        "show-good": ["show", GOOD],
        "compare": ["compare", BAD, GOOD, "--width", "60"],
    }.items():
        code = main([*args, "--runs-dir", str(store)])
        captured = capsys.readouterr()
        assert code == 0, (name, captured.out[-500:], captured.err[-500:])
        outputs[name] = captured.out
    return outputs


def _check(store: Path, capsys, field_words: str) -> None:
    outputs = _readers(store, capsys)
    assert GOOD in outputs["runs"] and BAD in outputs["runs"].replace("\n", "")
    record = read_run(store / BAD)
    if record.damaged:
        assert record.status == "damaged"
        assert field_words in record.damaged, record.damaged
    assert read_run(store / GOOD).damaged is None


@FAST
@given(key=st.sampled_from(SUMMARY_KEYS), value=JSON_VALUES)
def test_any_value_in_any_summary_field(store, pristine, capsys, key, value):
    _restore(store, pristine)
    _set_json_field(store / BAD / "summary.json", key, value)
    _check(store, capsys, "summary.json")


@FAST
@given(key=st.sampled_from([f.name for f in config_fields()] + ["new_field"]), value=JSON_VALUES)
def test_any_value_in_any_config_field(store, pristine, capsys, key, value):
    _restore(store, pristine)
    _set_json_field(store / BAD / "config.json", key, value)
    _check(store, capsys, "config.json")


@FAST
@given(line=st.integers(0, 2), key=st.sampled_from(METRIC_KEYS), value=JSON_VALUES)
def test_any_value_in_any_metrics_field(store, pristine, capsys, line, key, value):
    _restore(store, pristine)
    path = store / BAD / "metrics.jsonl"
    rows = [json.loads(text) for text in path.read_text().splitlines()]
    rows[line][key] = value
    path.write_text("".join(_dump(row) + "\n" for row in rows))
    _check(store, capsys, "metrics.jsonl")


@FAST
@given(name=st.sampled_from(FILES), data=st.binary(max_size=300))
def test_random_bytes_in_any_run_file(store, pristine, capsys, name, data):
    _restore(store, pristine)
    (store / BAD / name).write_bytes(data)
    outputs = _readers(store, capsys)
    assert GOOD in outputs["runs"]
    if name != "sweep.json":  # a bad membership tag only drops the sweep link
        assert read_run(store / BAD).status == "damaged"


def test_the_issue_fields_each_make_the_run_damaged_with_the_field_named(tmp_path, capsys):
    """The five values from the issue, each of which crashed `runs`, `show` and `report`."""
    runs = tmp_path / "runs"
    write_run(runs, GOOD)
    cases = {
        "best": "x",
        "train_seconds": "slow",
        "per_class_acc": 5,
        "classes": 7,
        "final": [1],
    }
    for number, (key, value) in enumerate(cases.items()):
        run_id = f"20250102-00000{number}-conv-shapes-{key[:4]}"
        write_run(runs, run_id)
        _set_json_field(runs / run_id / "summary.json", key, value)
    assert main(["runs", "--wide", "--runs-dir", str(runs)]) == 0
    listing = capsys.readouterr().out
    records = {r.run_id: r for r in RunStore(runs).list_runs()}
    for number, key in enumerate(cases):
        record = records[f"20250102-00000{number}-conv-shapes-{key[:4]}"]
        assert record.status == "damaged" and f"'{key}'" in record.damaged
        assert main(["show", record.run_id, "--runs-dir", str(runs)]) == 0
        assert f"'{key}'" in capsys.readouterr().out
    assert listing.count("damaged") >= len(cases) and GOOD in listing
    out = tmp_path / "report"
    ids = [GOOD, *(r for r in records if r != GOOD)]
    assert main(["report", *ids, "--out", str(out), "--runs-dir", str(runs)]) == 0
    assert (out / "report.md").is_file()


@pytest.mark.slow
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(key=st.sampled_from(SUMMARY_KEYS + ["config." + k for k in ("seed", "lr", "model")]),
       value=JSON_VALUES)  # fmt: skip
def test_report_survives_any_summary_or_config_value(store, pristine, capsys, tmp_path, key, value):
    _restore(store, pristine)
    if key.startswith("config."):
        _set_json_field(store / BAD / "config.json", key.split(".", 1)[1], value)
    else:
        _set_json_field(store / BAD / "summary.json", key, value)
    out = tmp_path / "report"
    shutil.rmtree(out, ignore_errors=True)
    code = main(["report", BAD, GOOD, "--out", str(out), "--runs-dir", str(store)])
    captured = capsys.readouterr()
    assert code == 0, captured.out[-800:]
    assert (out / "report.md").is_file()


# --- sweep state files ---------------------------------------------------------------------

STATE_KEYS = ["sweep_id", "spec", "points", "created", "updated", "version"]
POINT_KEYS = ["index", "setting", "seed", "run_id", "attempts"]


@pytest.fixture(scope="module")
def sweep_store(tmp_path_factory) -> tuple[Path, str]:
    """A runs folder with a two-point sweep whose runs exist (written without training)."""
    from engine.runs.files import write_json_atomic
    from engine.sweeps import build_spec
    from engine.sweeps.membership import stamp_summary, write_membership
    from engine.sweeps.state import SweepState, save_state
    from engine.trainer import TrainConfig

    runs = tmp_path_factory.mktemp("sweep") / "runs"
    spec = build_spec(TrainConfig(dataset="shapes", epochs=2), {"lr": [1e-2, 1e-3]}, [0])
    state = SweepState.new(spec)
    for point, run_id in zip(state.points, (GOOD, BAD), strict=True):
        write_run(runs, run_id, lr=point.setting["lr"])
        write_membership(runs / run_id, spec.sweep_id, point.point)
        stamp_summary(runs / run_id, spec.sweep_id, point.point)
        point.attempts.append(run_id)
    save_state(runs, state)
    write_json_atomic(sweeps_dir(runs) / "pristine.keep", state.to_dict())
    return runs, spec.sweep_id


@FAST
@given(
    where=st.sampled_from(STATE_KEYS + [f"point.{k}" for k in POINT_KEYS]),
    value=JSON_VALUES,
)
def test_any_value_in_a_sweep_state_file(sweep_store, capsys, where, value):
    runs, sweep_id = sweep_store
    state = json.loads((sweeps_dir(runs) / "pristine.keep").read_text())
    if where.startswith("point."):
        state["points"][1][where.split(".", 1)[1]] = value
    else:
        state[where] = value
    (sweeps_dir(runs) / f"{sweep_id}.json").write_text(_dump(state))
    (sweeps_dir(runs) / f"{'x' * 300}.json"[-200:]).write_text(
        _dump({**state, "sweep_id": "x" * 300})
    )
    assert main(["sweeps", "--runs-dir", str(runs)]) == 0
    assert main(["runs", "--wide", "--runs-dir", str(runs)]) == 0
    out = capsys.readouterr().out
    assert GOOD in out


@pytest.mark.parametrize("data", [b"", b"\xff\xfe", b"[]", b'{"sweep_id": 5}', b"{"])
def test_a_damaged_sweep_state_is_skipped_and_kept_aside(sweep_store, tmp_path, capsys, data):
    from engine.sweeps import resolve_targets
    from engine.sweeps.state import SweepState, load_or_create_state

    source, sweep_id = sweep_store
    runs = tmp_path / "runs"
    shutil.copytree(source, runs)
    path = sweeps_dir(runs) / f"{sweep_id}.json"
    path.write_bytes(data)
    assert main(["sweeps", "--runs-dir", str(runs)]) == 0
    # The runs still name their sweep, so the sweep id still finds both of them.
    assert {r.run_id for r in resolve_targets(RunStore(runs), [sweep_id])} == {GOOD, BAD}
    pristine = json.loads((sweeps_dir(source) / "pristine.keep").read_text())
    _, resumed = load_or_create_state(runs, SweepState.from_dict(pristine).spec)
    assert not resumed and path.with_name(path.name + ".damaged").read_bytes() == data


def test_reports_are_never_listed_as_runs_and_latest_is_a_real_run(tmp_path, capsys):
    """A report exported by an older dashboard into <runs>/reports/, and a stray folder that
    sorts after every run id, are not runs: not listed, not `latest`, not resumable."""
    runs = tmp_path / "runs"
    write_run(runs, GOOD)
    (runs / "reports" / "20991231-235959").mkdir(parents=True)
    (runs / "reports" / "20991231-235959" / "report.md").write_text("# old report\n")
    (runs / "zz-notes").mkdir()  # no summary.json: not a run
    assert main(["show", "latest", "--runs-dir", str(runs)]) == 0
    assert GOOD in capsys.readouterr().out
    assert [r.run_id for r in RunStore(runs).list_runs()] == ["zz-notes", GOOD]
    # This run has no checkpoint, so resuming it is refused — naming the real run.
    assert main(["train", "--resume", "latest", "--epochs", "5", "--runs-dir", str(runs)]) == 1
    err = capsys.readouterr().err
    assert f"{GOOD}/last.pt" in err.replace("\n", "") and "zz-notes" not in err
