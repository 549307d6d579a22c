"""A run's labels (name, note, tags in labels.json) and the handles that name a run."""

from __future__ import annotations

import hashlib
import json

import pytest
from test_cli_runs import write_run

from engine.errors import RunStoreError
from engine.runs import RunStore
from engine.runs.labels import (
    LABELS_FILE,
    RunLabels,
    make_labels,
    parse_tags,
    read_labels,
    read_labels_checked,
    write_labels,
)
from engine.runs.store import read_run, short_handles

A = "20250101-120000-conv-shapes-3fa2"
B = "20250101-120100-conv-shapes-77b1"
C = "20250101-120200-mlp-shapes-3fa2"  # shares A's random tail


def _digests(run_dir) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in run_dir.iterdir()
        if p.name != LABELS_FILE and p.is_file()
    }


def test_labels_round_trip_and_leave_the_trainers_files_alone(tmp_path):
    run = write_run(tmp_path, A, [0.5, 0.7])
    before = _digests(run)
    assert read_labels(run) == RunLabels()  # no file: no labels
    store = RunStore(tmp_path)
    stored = store.set_labels(A, make_labels("baseline", "first try", "fast, cpu"))
    assert stored == RunLabels("baseline", "first try", ("fast", "cpu"))
    assert json.loads((run / LABELS_FILE).read_text()) == {
        "name": "baseline",
        "note": "first try",
        "tags": ["fast", "cpu"],
    }
    assert read_run(run).labels == stored and store.get("baseline").run_id == A
    assert _digests(run) == before  # summary, config, metrics untouched
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]


def test_a_running_run_can_be_labelled_and_its_writer_carries_on(tmp_path):
    run = write_run(tmp_path, A, [0.5], status="running")
    RunStore(tmp_path).set_labels(A, RunLabels(name="live", tags=("wip",)))
    # the writer rewrites summary.json and appends epochs; labels.json stays as it was
    write_run(tmp_path, A, [0.5, 0.6, 0.7])
    record = read_run(run)
    assert record.labels == RunLabels(name="live", tags=("wip",))
    assert [row["epoch"] for row in record.metrics] == [1, 2, 3] and record.damaged is None


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("a" * 41, "at most 40"),
        ("two words", "letters, digits"),
        ("../up", "not a path"),
        ("runs/x", "not a path"),
        ("-dash", "starting with a letter"),
        ("latest", "reserved"),
        ("3fa2", "short run id"),
        ("20250101-120000-x", "reads as a run id"),
    ],
)
def test_bad_names_are_refused_with_the_reason(name, words):
    with pytest.raises(ValueError, match=words):
        make_labels(name=name)


def test_bad_tags_and_notes_are_refused_and_tags_split_on_commas():
    assert parse_tags(["a,b", " b ", "c"]) == ("a", "b", "c")
    for bad in ("two words", "x" * 25, "a/b"):
        with pytest.raises(ValueError, match="tag"):
            parse_tags(bad)
    with pytest.raises(ValueError, match="at most 500"):
        make_labels(note="n" * 501)


def test_a_name_used_by_another_run_is_refused_naming_that_run(tmp_path):
    write_run(tmp_path, A, [0.5])
    write_run(tmp_path, B, [0.6])
    store = RunStore(tmp_path)
    store.set_labels(A, RunLabels(name="best"))
    with pytest.raises(ValueError, match=f"already used by run {A}"):
        store.set_labels(B, RunLabels(name="BEST"))  # names ignore case
    with pytest.raises(ValueError, match="reads as a run id"):
        store.set_labels(B, RunLabels(name=A))
    write_run(tmp_path, "my-old-run", [0.5])  # a folder named by hand
    with pytest.raises(ValueError, match="is the id of run my-old-run"):
        store.set_labels(B, RunLabels(name="My-Old-Run"))
    assert store.set_labels(A, RunLabels(name="best", note="again")).note == "again"  # its own
    assert read_labels(tmp_path / B) == RunLabels()


def test_labels_are_written_only_inside_the_runs_root(tmp_path):
    elsewhere = write_run(tmp_path / "other", A, [0.5])
    write_run(tmp_path / "runs", B, [0.5])
    store = RunStore(tmp_path / "runs")
    for ref in (str(elsewhere), "../other/" + A, str(tmp_path / "runs"), "sweeps"):
        with pytest.raises(RunStoreError):
            store.set_labels(ref, RunLabels(name="x1"))
    assert not (elsewhere / LABELS_FILE).exists()
    (tmp_path / "runs" / "link").symlink_to(elsewhere)
    with pytest.raises(RunStoreError, match="link"):
        store.set_labels("link", RunLabels(name="x1"))
    assert not (elsewhere / LABELS_FILE).exists()


@pytest.mark.parametrize(
    "text",
    ["{bad", "[]", '{"name": 5}', '{"tags": "a"}', '{"name": "../x"}', "\xff\xfe"],
)
def test_a_malformed_labels_file_is_ignored_with_a_reason_and_never_damages(tmp_path, text):
    run = write_run(tmp_path, A, [0.5, 0.7])
    (run / LABELS_FILE).write_bytes(text.encode("latin-1"))
    labels, problem = read_labels_checked(run)
    assert labels == RunLabels() and LABELS_FILE in problem
    record = RunStore(tmp_path).list_runs()[0]
    assert record.status == "completed" and record.damaged is None
    assert any(LABELS_FILE in w for w in record.warnings)
    write_labels(run, RunLabels(name="fixed"))  # labelling again repairs it
    assert read_run(run).labels.name == "fixed" and not read_run(run).warnings


def test_handles_are_names_or_the_shortest_unique_short_id(tmp_path):
    for run_id in (A, B, C):
        write_run(tmp_path, run_id, [0.5])
    store = RunStore(tmp_path)
    store.set_labels(B, RunLabels(name="wide-lr"))
    handles = short_handles(store.list_runs())
    assert handles[B] == "wide-lr"
    assert handles[A] != handles[C] and len(handles[A]) < len(A)  # 3fa2 is shared
    for run_id, handle in handles.items():
        assert store.resolve(handle).name == run_id
        assert store.run_folder(handle).name == run_id
    assert store.resolve("77b1").name == B  # the short id still works beside the name
    with pytest.raises(RunStoreError, match=f"short id of 2 runs.*{C}.*{A}"):
        store.resolve("3fa2")


def test_a_short_id_wins_over_a_fragment_of_other_ids(tmp_path):
    """`2025` is the random tail of one run and in every timestamp."""
    write_run(tmp_path, "20250101-000000-conv-shapes-2025", [0.5])
    write_run(tmp_path, "20250102-000000-conv-shapes-abcd", [0.5])
    store = RunStore(tmp_path)
    assert store.resolve("2025").name == "20250101-000000-conv-shapes-2025"


def test_delete_by_name_removes_only_that_run(tmp_path):
    write_run(tmp_path, A, [0.5])
    write_run(tmp_path, B, [0.5])
    store = RunStore(tmp_path)
    store.set_labels(A, RunLabels(name="scrap"))
    store.delete("scrap")
    assert [r.run_id for r in store.list_runs()] == [B]
