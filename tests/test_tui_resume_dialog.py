"""The resume dialog counts from the run's checkpoint, not from its metrics rows: an engine
killed between an epoch's row and its checkpoint leaves a row the resume trains again."""

from __future__ import annotations

import torch
from tui_helpers import async_test, wait_for
from tui_store_helpers import write_run

from cnnlab_tui.app import CnnlabApp
from cnnlab_tui.screens.resume_dialog import ResumeScreen, ask_resume
from engine.runs import RunStore
from engine.trainer.checkpoint import LAST

RUN = "20250101-120000-conv-shapes-aaaa"


def _status(app: CnnlabApp) -> str:
    """The dialog's plan line ('' until the dialog is on screen and composed)."""
    found = app.screen.query("#resume-status") if isinstance(app.screen, ResumeScreen) else []
    return str(found[0].render()) if found else ""


@async_test
async def test_an_epoch_without_its_checkpoint_is_counted_as_to_train_again(tmp_path):
    runs_dir = tmp_path / "runs"
    run_dir = write_run(runs_dir, RUN, status="interrupted", epochs=3)
    torch.save({"epoch": 2}, run_dir / LAST)  # the kill came before epoch 3's checkpoint
    app = CnnlabApp(data_root=tmp_path, runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        ask_resume(app, RunStore(runs_dir).get(RUN))
        await wait_for(pilot, lambda: "train again" in _status(app), what="the checkpoint read")
        assert app.screen.done == 2
        assert _status(app).startswith("2 epoch(s) done")
        assert "last 1 recorded epoch(s)" in _status(app)


@async_test
async def test_a_run_without_a_checkpoint_says_it_cannot_resume(tmp_path):
    runs_dir = tmp_path / "runs"
    write_run(runs_dir, RUN, status="interrupted", epochs=2)
    app = CnnlabApp(data_root=tmp_path, runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        ask_resume(app, RunStore(runs_dir).get(RUN))
        await wait_for(pilot, lambda: "Cannot resume" in _status(app), what="the refusal")
        assert "no checkpoint" in _status(app)
        assert app.screen.query_one("#resume-status").has_class("-bad")
