"""New run's "GPUs per run" field, from the keyboard to the run folder: typed 2 on this
CPU, the launched run trains over two gloo processes through the engine (one run folder,
its config and device line say so); a count the batch cannot be split into is refused on
the field, with the engine's message, before anything is queued."""

from __future__ import annotations

import pytest
from tui_helpers import async_test, form_field, open_new_run, type_into, wait_for

from cnnlab_tui.app import CnnlabApp
from engine.runs import RunStore

pytestmark = pytest.mark.timeout(400)


def _finished_runs(runs) -> list:
    """Runs with a final status of their own (not `damaged` or `interrupted`, which a
    folder read while its files are written, or its writer starts, can show for a moment)."""
    final = ("completed", "failed", "cancelled", "diverged")
    return [r for r in RunStore(runs).list_runs() if r.status in final]


@pytest.mark.slow
@async_test
async def test_gpus_per_run_typed_on_the_form_trains_one_run_over_two_processes(tmp_path, runs):
    app = CnnlabApp(data_root=tmp_path, runs_dir=runs)
    before = {r.run_id for r in RunStore(runs).list_runs()}
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_new_run(app, pilot)
        for key, text in (("epochs", "1"), ("image_size", "16"), ("batch_size", "16"),
                          ("max_train_batches", "3"), ("device", "cpu")):  # fmt: skip
            form_field(screen, key).set_value(text)
        assert form_field(screen, "nproc_per_node").parse() == 1  # the default: one process
        await type_into(pilot, screen, "nproc_per_node", "2")
        await wait_for(pilot, lambda: form_field(screen, "nproc_per_node").parse() == 2)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.current_mode == "live", what="switch to Live")
        assert app.runner.runs[0].config["nproc_per_node"] == 2

        def new_finished() -> list:
            return [r for r in _finished_runs(runs) if r.run_id not in before]

        await wait_for(pilot, new_finished, timeout=300, what="the run over two processes")
    [record] = new_finished()
    assert record.status == "completed", record.summary.get("error")
    assert record.config["nproc_per_node"] == 2
    assert "2 processes (gloo)" in record.summary["device"]


@async_test
async def test_more_processes_than_the_batch_can_feed_are_refused_on_the_field(tmp_path):
    app = CnnlabApp(data_root=tmp_path, runs_dir=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_new_run(app, pilot)
        form_field(screen, "batch_size").set_value("8")
        form_field(screen, "device").set_value("cpu")
        await type_into(pilot, screen, "nproc_per_node", "8")
        await wait_for(
            pilot, lambda: form_field(screen, "batch_size").error is not None,
            what="the batch refused",
        )  # fmt: skip
        assert "--batch-size 16 or more" in form_field(screen, "batch_size").error
        await pilot.press("ctrl+s")
        await pilot.pause(0.5)
        assert app.current_mode != "live" and not app.runner.runs
