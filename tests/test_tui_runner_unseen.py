"""A run that ends before the dashboard's subscription is up (a data set that is missing
fails it within a second) must not stay 'starting' in the dashboard: when the engine's
snapshot no longer lists it, the runner takes its outcome from the engine's queue history
and the run folder. Real files (queue.json, a run folder); the app is a stand-in that only
receives posted messages."""

from __future__ import annotations

import json

from tui_store_helpers import write_run

from cnnlab_tui.messages import EngineEvent, EntrySubmitted
from cnnlab_tui.runner import RunQueue, ended_unseen
from engine.service.events import QueueState, SnapshotEnd
from engine.service.paths import EnginePaths

RUN = "20261202-120000-conv-vehicles-abcd"


class PostsNothing:
    def post_message(self, message) -> bool:
        return True


def _history(runs, *records) -> None:
    path = EnginePaths.of(runs).queue
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"entries": [], "history": list(records)}))


def test_a_run_that_failed_before_the_snapshot_is_shown_failed_with_its_reason(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs, RUN, status="failed", error="no vehicles data under /nowhere")
    _history(runs, {"queue_id": "q1", "kind": "run", "status": "failed", "run_ids": [RUN]})
    runner = RunQueue(PostsNothing(), runs)
    runner.attached_to({"pid": 1})
    view = {"queue_id": "q1", "kind": "run", "state": "running", "lane": "cpu"}
    runner.note_submitted(EntrySubmitted(view))  # what the submission's reply said
    assert runner.get("q1").state == "starting"
    for event in (QueueState([], []), SnapshotEnd([])):  # it ended before we listened
        runner.apply(EngineEvent(None, event))
    run = runner.get("q1")
    assert run.state == "finished" and run.status == "failed" and run.run_id == RUN
    assert "no vehicles" in run.error
    assert runner.take_unseen_endings() == [run] and runner.take_unseen_endings() == []


def test_an_entry_without_an_ending_on_record_is_left_as_it_is(tmp_path):
    runs = tmp_path / "runs"
    _history(runs, {"queue_id": "q2", "kind": "run", "status": None, "run_ids": []})
    assert ended_unseen(runs, "q2") is None and ended_unseen(runs, "q9") is None
    runner = RunQueue(PostsNothing(), runs)
    runner.attached_to({"pid": 1})
    runner.note_submitted(EntrySubmitted({"queue_id": "q2", "state": "running"}))
    runner.note_submitted(EntrySubmitted({"queue_id": "q3", "state": "queued", "position": 1}))
    for event in (QueueState([], []), SnapshotEnd([])):
        runner.apply(EngineEvent(None, event))
    assert runner.get("q2").state == "starting"  # the engine stopped while it ran: unknown
    assert runner.get("q3").status == "cancelled"  # queued, then gone: removed, as before
