"""The per-batch learning rate Live's lr chart draws: the trainer publishes it on each
`BatchProgress` (and `batches.jsonl` keeps it), it crosses the engine's JSON protocol, and
events from engines older than it still decode (lr None)."""

from __future__ import annotations

import json

import pytest
from test_trainer import run_collecting, tiny

from engine.events import BatchProgress, EpochEnd
from engine.service.protocol import encode, event_from_dict, event_to_dict
from engine.trainer.loop import Trainer


def test_trainer_publishes_each_batch_lr_and_the_writer_keeps_it(tmp_path):
    trainer = Trainer(tiny(epochs=2, scheduler="cosine"), runs_dir=tmp_path)
    events = run_collecting(trainer)
    progress = [e for e in events if isinstance(e, BatchProgress)]
    lrs = [e.lr for e in progress]
    assert progress and all(isinstance(lr, float) for lr in lrs)
    assert lrs == sorted(lrs, reverse=True) and lrs[0] > lrs[-1]  # cosine decays per batch
    assert lrs[-1] == pytest.approx(0.0, abs=1e-9)  # …to zero after the last step
    assert len([e for e in events if isinstance(e, EpochEnd)]) == 2
    rows = [json.loads(line) for line in (trainer.run_dir / "batches.jsonl").open()]
    assert [r["lr"] for r in rows] == [e.lr for e in progress]


def test_lr_crosses_the_protocol_and_old_events_decode_without_it():
    event = BatchProgress("r", 1, 2, 4, 0.5, 10.0, 1.0, 0.4, 0.01)
    assert event_from_dict(json.loads(encode(event_to_dict(event)))) == event
    old = {"type": "BatchProgress", "run_id": "r", "epoch": 1, "batch": 1, "num_batches": 1}
    old |= {"loss": 0.5, "images_per_second": 1.0, "eta_seconds": 0.0, "batch_loss": 0.5}
    assert event_from_dict(old).lr is None
