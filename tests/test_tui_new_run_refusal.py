"""A refusal stays beside Launch until the user edits the form: the form's check (a worker)
that answers after ctrl+s must not replace "Not launched — …" with the plan or nothing."""

from __future__ import annotations

from textual.widgets import Static
from tui_helpers import async_test, form_field, open_new_run, type_into, wait_for

from cnnlab_tui.app import CnnlabApp


def _status(screen) -> str:
    return str(screen.query_one("#launch-status", Static).render())


@async_test
async def test_a_refusal_outlives_a_late_check_and_goes_when_the_form_is_edited(tmp_path):
    app = CnnlabApp(data_root=tmp_path / "missing", runs_dir=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_new_run(app, pilot)
        # No such data folder: the engine's check (a worker) finds it, not the fields.
        await type_into(pilot, screen, "epochs", "3")
        await pilot.press("ctrl+s")  # at once: the form's check is still on its way
        await wait_for(pilot, lambda: "Not launched" in _status(screen), what="the refusal")
        await wait_for(pilot, lambda: not screen.checking, what="the form's check")
        for _ in range(3):
            await pilot.pause(0.1)
        assert "Not launched" in _status(screen) and "data_root" in _status(screen)

        await type_into(pilot, screen, "epochs", "2")  # edited: the old reason is void
        epochs = form_field(screen, "epochs")
        await wait_for(pilot, lambda: epochs.error is None, what="epochs accepted")
        await wait_for(pilot, lambda: not screen.checking, what="the form's check")
        await pilot.pause(0.1)
        assert "Not launched" not in _status(screen)
