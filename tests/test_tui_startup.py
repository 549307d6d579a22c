"""Start-up: the dashboard paints before torch is imported, loads the engine in the
background, says "loading…" (never freezes) until then, and launches runs afterwards; late
answers of its thread workers never overwrite newer ones.

What is in `sys.modules` can only be checked in a fresh process (this one imported torch
long ago), so those tests drive the real app headless in a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from textual.screen import Screen
from tui_helpers import async_test, form_field, open_new_run, wait_for

from cnnlab_tui.app import CnnlabApp

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


def run_python(code: str, *, timeout: float = 240) -> dict:
    """Run `code` in a fresh interpreter (this checkout first on the path); its last
    stdout line is JSON."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=timeout, cwd=REPO,
        env={"PYTHONPATH": f"{REPO}:{TESTS}", "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_modes_are_screen_classes_whose_modules_import_no_engine():
    assert all(issubclass(cls, Screen) and cls.TITLE for cls in CnnlabApp.MODES.values())
    loaded = run_python(
        """
        import json, sys
        import cnnlab_tui.app, cnnlab_tui.launcher
        print(json.dumps(sorted(m for m in sys.modules
                                if m.split(".")[0] in ("torch", "engine", "numpy"))))
        """
    )
    assert "torch" not in loaded and "numpy" not in loaded
    assert set(loaded) <= {"engine", "engine.errors", "engine.events", "engine.halfblocks"}, loaded


STARTUP_SCRIPT = """
    import asyncio, json, sys, tempfile, threading
    from pathlib import Path
    from tui_helpers import TINY_FORM, fill_form, form_field, open_new_run, tiny_config, wait_for
    from cnnlab_tui.app import CnnlabApp
    from cnnlab_tui.engine_import import EngineImport
    from cnnlab_tui.screens.new_run import NewRunScreen

    seen = {}
    first_mount = NewRunScreen.on_mount

    def on_mount(self):
        seen.setdefault("torch_at_first_mount", "torch" in sys.modules)
        first_mount(self)

    NewRunScreen.on_mount = on_mount
    gate = threading.Event()  # holds the background import back until the test says so
    real_load = EngineImport.load

    def held_load(self):
        gate.wait(60)
        real_load(self)

    EngineImport.load = held_load

    def text(screen, selector):
        return str(screen.query_one(selector).render())

    async def main(tmp):
        app = CnnlabApp(data_root=tmp, runs_dir=tmp / "runs")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, NewRunScreen), what="New run")
            await pilot.pause()
            seen["new_run_text"] = text(app.screen, "#engine-status")
            for key, mode in (("f2", "live"), ("f3", "runs"), ("f4", "compare"),
                              ("f5", "conv_lab"), ("f1", "new_run")):
                await pilot.press(key)
                seen[f"{mode}_shown"] = app.current_mode == mode
                if mode == "conv_lab":
                    seen["conv_lab_text"] = text(app.screen, "#size-result")
            await pilot.press("ctrl+s")
            palette = [c.title for c in app.get_system_commands(app.screen)]
            seen["presets_while_loading"] = [t for t in palette if t.startswith("Preset")]
            app.edit_and_rerun(tiny_config(tmp, name="asked while loading"))
            await pilot.pause(0.3)
            seen["runs_while_loading"] = len(app.runner.runs)
            seen["torch_while_held"] = "torch" in sys.modules
            gate.set()
            form = await open_new_run(app, pilot)
            seen["focus_in_form"] = app.focused is not None and form in app.focused.ancestors
            await wait_for(pilot, lambda: form_field(form, "name").text == "asked while loading",
                           what="the re-run asked for while loading")
            fill_form(form, {**TINY_FORM, "epochs": 1, "max_train_batches": 2})
            await pilot.pause()
            await pilot.press("ctrl+s")
            def run():
                return (app.runner.runs or [None])[0]

            await wait_for(pilot, lambda: run() and run().state == "finished",
                           timeout=120, what="the run")
            seen["status"], seen["error"] = run().status, run().error

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(Path(tmp)))
    print(json.dumps(seen))
"""


def test_first_screen_before_torch_then_the_engine_loads_and_a_run_launches():
    seen = run_python(STARTUP_SCRIPT)
    assert seen["torch_at_first_mount"] is False
    assert "Loading torch" in seen["new_run_text"]
    assert all(seen[f"{mode}_shown"] for mode in ("live", "runs", "compare", "conv_lab", "new_run"))
    assert "Loading torch" in seen["conv_lab_text"]
    assert seen["presets_while_loading"] == [] and seen["runs_while_loading"] == 0
    # Every screen and key was used while the import was held back, and none imported torch
    # on the UI thread (which would have frozen it): the background import is the only one.
    assert seen["torch_while_held"] is False
    assert seen["focus_in_form"]  # so the screen's keys (ctrl+s) reach it at once
    assert (seen["status"], seen["error"]) == ("completed", None)


@async_test
async def test_a_late_engine_check_never_overwrites_a_newer_one(tmp_path, monkeypatch):
    import cnnlab_tui.screens.new_run_checks as checks

    real = checks.form_check
    release, entered, stale_done = threading.Event(), threading.Event(), threading.Event()

    def first_check_is_slow(config, axes, num_classes=None):
        if config.epochs == 4:  # the check of the older edit answers last, and refuses
            entered.set()
            release.wait(10)
            try:
                found = real(config, axes, num_classes)
                return checks.FormCheck({**found.errors, "epochs": "stale verdict"},
                                        found.params, found.params_ok)  # fmt: skip
            finally:
                stale_done.set()
        return real(config, axes, num_classes)

    app = CnnlabApp(data_root=tmp_path, runs_dir=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_new_run(app, pilot)
        monkeypatch.setattr(checks, "form_check", first_check_is_slow)
        epochs = form_field(screen, "epochs")
        epochs.set_value("4")  # its check answers late, and wrongly
        await wait_for(pilot, entered.is_set, timeout=20, what="the older check running")
        epochs.set_value("5")
        await pilot.pause(0.3)
        assert epochs.error is None
        release.set()
        await wait_for(pilot, stale_done.is_set, timeout=10, what="the late answer")
        await pilot.pause(0.5)  # time for its message to arrive and be handled
        assert epochs.error is None, "an older check overwrote the newer one"


def test_bench_startup_measures_a_first_paint():
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import bench_startup
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    seconds = bench_startup.first_paint_seconds()
    assert 0 < seconds < bench_startup.PAINT_TIMEOUT_S
