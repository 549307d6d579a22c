"""The cnnlab dashboard: a Textual app that drives the engine and never duplicates it.

Navigation (the contract every screen module codes against):

* The five top-level screens are Textual **modes**, each with its own screen stack, so a
  user's place in one (a half-filled form, a scrolled table) survives visiting another:

  ======== ======================== ================================================
  mode     keys (work in inputs)    base screen (module.Class, constructor)
  ======== ======================== ================================================
  new_run  f1 / ctrl+n              screens.new_run.NewRunScreen()
  live     f2 / ctrl+l              screens.live.LiveScreen()
  runs     f3 / ctrl+r              screens.runs.RunsScreen()
  compare  f4                       screens.compare.CompareScreen(run_ids=None)
  conv_lab f5 / ctrl+o              screens.conv_lab.ConvLabScreen()
  ======== ======================== ================================================

  The app opens in ``new_run``. ``CnnlabApp.MODES`` maps each mode to its screen class
  (each screen's ``TITLE`` names it in the palette); Textual builds a mode's screen the
  first time it is shown.
* Start-up: the first screen is drawn before torch is imported; ``on_ready`` then imports
  torch and the engine in a thread worker (``app.engine``, ``cnnlab_tui.engine_import``)
  and every screen gets ``EngineLoaded``. Screen modules import no engine module at module
  level; what needs the engine says "loading…" until then, and thread workers
  ``app.engine.wait()`` before importing it.
* Pushed on top of the current mode's stack (escape pops them):
  ``app.open_detail(run_id)`` → ``screens.detail.DetailScreen(run_id)``;
  ``screens.confirm.ConfirmScreen`` for every yes/no question (cancel, delete);
  ``screens.quit_dialog.QuitScreen`` (keep / cancel / stay) when quitting with runs active.
* ``app.open_compare(run_ids)`` shows ``run_ids`` in the one Compare (the ``compare`` mode's
  screen, ``CompareScreen.Show``); Esc there returns to the mode it came from, keeping both.
* ``app.edit_and_rerun(config)`` switches to ``new_run`` and fills the form with ``config``.
* Shared state: ``app.data_root``, ``app.runs_dir`` (Paths), ``app.store`` (engine RunStore),
  ``app.runner`` (``cnnlab_tui.runner.RunQueue``: the background engine's queue as seen
  here, and submit_run / submit_sweep / submit_resume / cancel / move from thread
  workers), ``app.engine_status`` (the mode bar's "● 2 runs in engine"),
  ``app.report_lang`` / ``app.last_report`` (``screens.export``).
* Training runs in the background engine of the runs folder (``engine.service``), never
  here: the app attaches to it (``cnnlab_tui.engine_link``, a thread worker), starting one
  when there is work for it; quitting asks whether to keep active runs training (the
  default), cancel them or stay; losing the terminal (SIGHUP) just closes the dashboard.
* Sweeps: New run turns lists typed in numeric fields and Seeds into an engine sweep
  (``cnnlab_tui.sweep_launch``); it queues as one job whose row reads ``sweep k/N``.
  Compare groups a sweep by setting (mean ± std); ``x`` on Runs and Compare writes the
  lab report (``screens.export``).
* Messages: engine events reach the UI only as ``EngineEvent`` posted by the engine link;
  the app folds them into ``app.runner`` state, then forwards a copy to every screen of
  every mode (``on_engine_event``), each dispatching on the event's class. ``RunsChanged``
  (run started / ended / deleted), ``QueueChanged`` and ``EngineLoaded`` are forwarded the
  same way; screens that change the store (delete) post ``RunsChanged`` to the app. A
  screen's thread workers post their results back as ``messages.WorkerAnswer``
  subclasses, handled with ``@on``.
* Styles: ``app.tcss`` holds the shared look; each screen sets ``CSS_PATH`` to its own
  ``styles/<screen>.tcss``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen

from cnnlab_tui.engine_import import EngineImport
from cnnlab_tui.messages import (
    EngineAttached,
    EngineEvent,
    EngineLoaded,
    EngineLost,
    EntrySubmitted,
    QueueChanged,
    RunsChanged,
)
from cnnlab_tui.notices import engine_status_text, notice_for
from cnnlab_tui.runner import RunQueue
from cnnlab_tui.screens.compare import CompareScreen
from cnnlab_tui.screens.conv_lab import ConvLabScreen
from cnnlab_tui.screens.detail import DetailScreen
from cnnlab_tui.screens.live import LiveScreen
from cnnlab_tui.screens.new_run import NewRunScreen
from cnnlab_tui.screens.quit_dialog import QuitScreen
from cnnlab_tui.screens.runs import RunsScreen
from engine.events import RunFinished, RunStarted

log = logging.getLogger(__name__)

QUIT_CANCEL_TIMEOUT_S = 60.0  # how long "cancel them" waits for the engine to confirm
LOG_FILE = ".cnnlab-dashboard.log"  # hidden: the run store skips dot-files


def _default_runs_dir() -> Path:
    return Path(os.environ.get("CNNLAB_RUNS", "runs"))


class CnnlabApp(App[int]):
    """Keyboard-driven dashboard for the cnnlab engine (see the module docstring)."""

    TITLE = "cnnlab"
    SUB_TITLE = "a terminal lab for convolutional networks"
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses may live elsewhere
    MODES = {
        "new_run": NewRunScreen,
        "live": LiveScreen,
        "runs": RunsScreen,
        "compare": CompareScreen,
        "conv_lab": ConvLabScreen,
    }
    DEFAULT_MODE = "new_run"

    BINDINGS = [
        # Shown in every screen's mode bar (widgets/mode_bar.py), so the footer's 80 columns
        # are left to the screen's own keys.
        Binding("f1,ctrl+n", "switch_mode('new_run')", "New", priority=True, show=False),
        Binding("f2,ctrl+l", "switch_mode('live')", "Live", priority=True, show=False),
        Binding("f3,ctrl+r", "switch_mode('runs')", "Runs", priority=True, show=False),
        Binding("f4", "switch_mode('compare')", "Compare", priority=True, show=False),
        Binding("f5,ctrl+o", "switch_mode('conv_lab')", "Conv", priority=True, show=False),
        # Hidden like Textual's own: ctrl+q is the universal quit, and 80 columns are scarce.
        Binding("ctrl+q", "quit", "Quit", priority=True, show=False),
    ]

    engine_status: reactive[str] = reactive("")  # "● 2 runs in engine", for the mode bar

    def __init__(
        self, data_root: str | Path | None = None, runs_dir: str | Path | None = None
    ) -> None:
        super().__init__()
        self._data_root = Path(data_root) if data_root else None
        self.runs_dir: Path = Path(runs_dir) if runs_dir else _default_runs_dir()
        self.engine = EngineImport()
        self.runner = RunQueue(self, self.runs_dir)
        self._hangup_caught = False
        self.report_lang = "en"  # the lab report's language, as last chosen in its dialog
        self.last_report: Path | None = None  # report.md written last (screens.export)
        self._store: Any = None

    # -- shared API -------------------------------------------------------------------
    @property
    def data_root(self) -> Path:
        """Where data sets are read: as given, else the engine's default (`$CNNLAB_DATA` or
        `./data`). Imports `engine.datasets` when not given: read it once the engine is in."""
        if self._data_root is None:
            from engine.datasets import default_data_root

            self._data_root = Path(default_data_root())
        return self._data_root

    @property
    def store(self) -> Any:
        """The engine's RunStore over `runs_dir` (created on first use, in a worker thread)."""
        if self._store is None or Path(self._store.root) != self.runs_dir:
            from engine.runs import RunStore

            self._store = RunStore(self.runs_dir)
        return self._store

    def open_detail(self, run_id: str) -> None:
        """Push the Run detail screen for `run_id` on the current mode."""
        self.push_screen(DetailScreen(run_id))

    def open_compare(self, run_ids: list[str]) -> None:
        """Show `run_ids` in the one Compare (F4); Esc there comes back here, nothing lost."""
        came_from = self.current_mode
        self.switch_mode("compare")
        self.get_screen_stack("compare")[0].post_message(CompareScreen.Show(run_ids, came_from))

    def edit_and_rerun(self, config: dict[str, Any]) -> None:
        """Open New run filled with `config` so the user can edit it and launch again."""
        self._show_in_new_run(NewRunScreen.Fill(config=dict(config)))

    def load_preset(self, name: str) -> None:
        """Open New run with preset `name` loaded."""
        self._show_in_new_run(NewRunScreen.Fill(preset=name))

    def _show_in_new_run(self, message: NewRunScreen.Fill) -> None:
        self.switch_mode("new_run")
        # The mode's base screen exists once switched to; it handles the message as soon
        # as its form is up (after it is mounted, and after the engine is loaded).
        self.get_screen_stack("new_run")[0].post_message(message)

    # -- the engine, imported after the first paint --------------------------------------
    def on_ready(self) -> None:
        """The first screen is on the terminal: now import torch and the engine, and attach
        to the background engine (its client is imported first)."""
        self._import_engine()
        self._follow_engine()
        self._catch_hangup()

    @work(thread=True, exclusive=True, group="engine-import", exit_on_error=False)
    def _import_engine(self) -> None:
        self.engine.load()
        self.post_message(EngineLoaded(self.engine.error))

    @work(thread=True, exclusive=True, group="engine-link", exit_on_error=False)
    def _follow_engine(self) -> None:
        if self.engine.client_wait():
            self.runner.link.follow()

    def on_engine_loaded(self, message: EngineLoaded) -> None:
        if message.error:
            self.notify(message.error, title="cnnlab", severity="error", timeout=30, markup=False)
        self.broadcast(lambda: EngineLoaded(message.error))

    # -- engine events → state → screens ------------------------------------------------
    def _all_screens(self) -> Iterable[Screen]:
        for mode in self.MODES:
            try:
                yield from self.get_screen_stack(mode)
            except KeyError:  # a mode not shown yet has no screens
                continue

    def broadcast(self, make: Callable[[], Message]) -> None:
        """Post a fresh copy of a message to every screen of every mode."""
        for screen in self._all_screens():
            screen.post_message(make())

    def on_engine_event(self, message: EngineEvent) -> None:
        from engine.service.events import EntryFinished, EntryStarted, QueueState

        run = self.runner.apply(message)
        event = message.event
        # Only screens that handle engine events get them: batch progress is frequent.
        for screen in self._all_screens():
            if callable(getattr(screen, "on_engine_event", None)):
                screen.post_message(EngineEvent(message.queue_id, event))
        label = run.label if run else getattr(event, "run_id", message.queue_id)
        notice = notice_for(event, label, in_sweep=run is not None and run.is_sweep)
        if notice is not None and self.runner.synced:  # the snapshot's past is no news
            self.notify(
                notice.message, severity=notice.severity, timeout=notice.timeout, markup=False
            )
        for ended in self.runner.take_unseen_endings():  # before this dashboard listened
            self._announce_unseen(ended)
        match event:
            case RunStarted(run_id=run_id):
                self.broadcast(lambda: RunsChanged(run_id, "running"))
            case RunFinished(run_id=run_id, status=status):
                self.broadcast(lambda: RunsChanged(run_id, status))
            case QueueState() | EntryStarted() | EntryFinished():
                self._queue_changed()

    def _announce_unseen(self, run: Any) -> None:
        """Say the end of an entry that ended before this dashboard's subscription was up,
        as its RunFinished would have been said."""
        run_id = run.run_id or run.queue_id
        if not run.is_sweep:
            end = RunFinished(run_id, str(run.status), run.error, {})
            notice = notice_for(end, run.label)
            if notice is not None:
                self.notify(notice.message, severity=notice.severity, timeout=notice.timeout,
                            markup=False)  # fmt: skip
        if run.run_id:
            self.broadcast(lambda: RunsChanged(run.run_id, str(run.status)))

    def on_engine_attached(self, message: EngineAttached) -> None:
        self.runner.attached_to(message.info)
        if message.notice:  # the engine before this one died: say so, and what it left
            self.notify(message.notice, title="Engine", severity="error", timeout=30,
                        markup=False)  # fmt: skip
        if message.started:
            pid = message.info.get("pid")
            self.notify(f"Started the background engine (pid {pid}).", timeout=4)
        self._queue_changed()

    def on_engine_lost(self, message: EngineLost) -> None:
        ended = self.runner.engine_lost(message.reason)
        if message.failed:
            title = "The engine would not start"
        elif message.died:
            title = "The engine stopped unexpectedly — starting a new one"
        else:
            title = "Engine"
        severity = "error" if (message.failed or message.died or ended) else "warning"
        self.notify(message.reason, title=title, severity=severity, timeout=20, markup=False)
        for run in ended:
            if run.run_id:
                self.broadcast(lambda r=run: RunsChanged(r.run_id, "interrupted"))
        self._queue_changed(lost=True)

    def on_entry_submitted(self, message: EntrySubmitted) -> None:
        self.runner.note_submitted(message)
        self._queue_changed()

    def on_queue_changed(self, message: QueueChanged) -> None:
        self._queue_changed()

    def _queue_changed(self, *, lost: bool = False) -> None:
        self.engine_status = engine_status_text(self.runner, lost=lost)
        self.broadcast(QueueChanged)

    def on_runs_changed(self, message: RunsChanged) -> None:
        self.broadcast(lambda: RunsChanged(message.run_id, message.status))

    # -- palette ------------------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for mode, screen_class in self.MODES.items():
            title = screen_class.TITLE
            yield SystemCommand(
                f"Go to {title}", f"Show the {title} screen", lambda m=mode: self.switch_mode(m)
            )
        yield from self.preset_commands()

    def preset_commands(self) -> Iterable[SystemCommand]:
        """The "Preset: NAME" commands, one per engine preset (none while it loads)."""
        if not self.engine.ready:
            return
        from engine.presets import list_presets

        for preset in list_presets():
            yield SystemCommand(
                f"Preset: {preset.name}",
                preset.description,
                lambda name=preset.name: self.load_preset(name),
            )

    # -- quitting -------------------------------------------------------------------------
    async def action_quit(self) -> None:
        """Quit; while the engine has runs, ask: keep them training (the default), cancel
        them, or stay. Training is the engine's: closing the dashboard never stops it."""
        count = self.runner.active_count
        if not count:
            self.exit(0)
            return
        self.push_screen(QuitScreen(count), self._quit_answered)

    def _quit_answered(self, answer: str | None) -> None:
        if answer == "keep":
            self.exit(0)
        elif answer == "cancel":
            self.notify("Cancelling runs…", timeout=5)
            self.run_worker(self._cancel_then_exit(), name="quit", exclusive=True)

    async def _cancel_then_exit(self) -> None:
        runner = self.runner
        ids = [run.queue_id for run in runner.queue + runner.running]
        errors = await asyncio.to_thread(runner.cancel_all, ids)
        for error in errors:
            self.notify(error, severity="error", markup=False)
        deadline = time.monotonic() + QUIT_CANCEL_TIMEOUT_S

        def still_active() -> bool:
            return any(run.active for run in map(runner.get, ids) if run is not None)

        while still_active() and runner.attached and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        self.exit(0)

    def _catch_hangup(self) -> None:
        """SIGHUP (the terminal or SSH link is gone): close the dashboard; the engine keeps
        training. Only where a signal can be caught (the main thread's loop)."""
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._terminal_lost)
            self._hangup_caught = True

    def _terminal_lost(self) -> None:
        log.info("SIGHUP: the terminal is gone; runs go on in the engine")
        if not self.is_headless:  # nothing may be written to a terminal that is gone
            devnull = os.open(os.devnull, os.O_WRONLY)
            for fd in (1, 2):
                os.dup2(devnull, fd)
        self.exit(return_code=128 + signal.SIGHUP)

    async def on_unmount(self) -> None:
        # Whatever closed the app, the engine keeps its runs; only the link is closed, so
        # no worker thread stays blocked on the engine's socket.
        self.runner.link.close()
        if self._hangup_caught:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)


def _log_to_file(runs_dir: Path) -> None:
    """Send library logging to `<runs>/.cnnlab-dashboard.log`: a full-screen app cannot
    print, but engine warnings and tracebacks must still be findable afterwards."""
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        target = str(runs_dir / LOG_FILE)
        open(target, "a").close()
    except OSError:
        target = os.devnull
    logging.basicConfig(
        level=logging.INFO,
        filename=target,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def run_app(data_root: str | Path | None = None, runs_dir: str | Path | None = None) -> int:
    """Run the dashboard until the user quits; returns the process exit code."""
    app = CnnlabApp(data_root=data_root, runs_dir=runs_dir)
    _log_to_file(app.runs_dir)
    return int(app.run() or 0)
