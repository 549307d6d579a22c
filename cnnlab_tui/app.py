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
  ``app.open_compare(run_ids)`` → ``screens.compare.CompareScreen(run_ids=run_ids)``;
  ``screens.confirm.ConfirmScreen`` for every yes/no question (cancel, delete, quit).
* ``app.edit_and_rerun(config)`` switches to ``new_run`` and fills the form with ``config``.
* Shared state: ``app.data_root``, ``app.runs_dir`` (Paths), ``app.store`` (engine RunStore),
  ``app.runner`` (``cnnlab_tui.runner.RunQueue``: submit, submit_sweep, cancel,
  queue, active…), ``app.report_lang`` / ``app.last_report`` (``screens.export``).
* Sweeps: New run turns lists typed in numeric fields and Seeds into an engine sweep
  (``cnnlab_tui.sweep_launch``); it queues as one job whose row reads ``sweep k/N``.
  Compare groups a sweep by setting (mean ± std); ``x`` on Runs and Compare writes the
  lab report (``screens.export``).
* Messages: engine events reach the UI only as ``EngineEvent`` posted by the runner; the app
  folds them into ``app.runner`` state, then forwards a copy to every screen of every mode
  (``on_engine_event``), each dispatching on the event's class. ``RunsChanged`` (run
  started / ended / deleted) and ``EngineLoaded`` are forwarded the same way; screens that
  change the store (delete) post ``RunsChanged`` to the app. A screen's thread workers post
  their results back as ``messages.WorkerAnswer`` subclasses, handled with ``@on``.
* Styles: ``app.tcss`` holds the shared look; each screen sets ``CSS_PATH`` to its own
  ``styles/<screen>.tcss``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen

from cnnlab_tui.engine_import import EngineImport
from cnnlab_tui.messages import EngineEvent, EngineLoaded, LaunchFailed, QueueChanged, RunsChanged
from cnnlab_tui.notices import notice_for
from cnnlab_tui.runner import RunQueue, TrainerFactory
from cnnlab_tui.screens.compare import CompareScreen
from cnnlab_tui.screens.confirm import ConfirmScreen
from cnnlab_tui.screens.conv_lab import ConvLabScreen
from cnnlab_tui.screens.detail import DetailScreen
from cnnlab_tui.screens.live import LiveScreen
from cnnlab_tui.screens.new_run import NewRunScreen
from cnnlab_tui.screens.runs import RunsScreen
from engine.events import RunFinished, RunStarted

log = logging.getLogger(__name__)

QUIT_CANCEL_TIMEOUT_S = 60.0
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

    def __init__(
        self,
        data_root: str | Path | None = None,
        runs_dir: str | Path | None = None,
        *,
        trainer_factory: TrainerFactory | None = None,
    ) -> None:
        super().__init__()
        self._data_root = Path(data_root) if data_root else None
        self.runs_dir: Path = Path(runs_dir) if runs_dir else _default_runs_dir()
        self.engine = EngineImport()
        self.runner = RunQueue(
            self, self.runs_dir, engine=self.engine, trainer_factory=trainer_factory
        )
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
        """Push a Compare screen showing `run_ids` on the current mode."""
        self.push_screen(CompareScreen(run_ids=list(run_ids)))

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
        """The first screen is on the terminal: now import torch and the engine."""
        self._import_engine()

    @work(thread=True, exclusive=True, group="engine-import", exit_on_error=False)
    def _import_engine(self) -> None:
        self.engine.load()
        self.post_message(EngineLoaded(self.engine.error))

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
        run = self.runner.apply(message)
        event = message.event
        # Only screens that handle engine events get them: batch progress is frequent.
        for screen in self._all_screens():
            if callable(getattr(screen, "on_engine_event", None)):
                screen.post_message(EngineEvent(message.queue_id, event))
        label = run.label if run else getattr(event, "run_id", message.queue_id)
        notice = notice_for(event, label, in_sweep=run is not None and run.is_sweep)
        if notice is not None:
            self.notify(
                notice.message, severity=notice.severity, timeout=notice.timeout, markup=False
            )
        match event:
            case RunStarted(run_id=run_id):
                self.broadcast(lambda: RunsChanged(run_id, "running"))
            case RunFinished(run_id=run_id, status=status):
                self.broadcast(lambda: RunsChanged(run_id, status))

    def on_launch_failed(self, message: LaunchFailed) -> None:
        self.runner.mark_ended(message.queue_id, message.status, message.message)
        if message.status != "cancelled":
            self.notify(
                message.message, title="Run could not start", severity="error", markup=False
            )
        self.broadcast(QueueChanged)

    def on_queue_changed(self, message: QueueChanged) -> None:
        if message.starting:
            self.runner.mark_starting(message.starting)
        if message.ended:
            self.runner.mark_ended(message.ended, message.status)
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
        """Quit; while runs are active ask first, then cancel them cleanly."""
        if not self.runner.active:
            self.exit(0)
            return
        question = "A run is training or queued. Cancel it (saved as cancelled) and quit?"
        self.push_screen(
            ConfirmScreen(question, title="Quit cnnlab?", yes_label="Cancel runs and quit"),
            self._quit_answered,
        )

    def _quit_answered(self, answer: bool | None) -> None:
        if answer:
            self.notify("Cancelling runs…", timeout=5)
            self.run_worker(self._cancel_then_exit(), name="quit", exclusive=True)

    async def _cancel_then_exit(self) -> None:
        self.runner.cancel_all()
        await asyncio.to_thread(self.runner.wait_idle, QUIT_CANCEL_TIMEOUT_S)
        self.exit(0)

    async def on_unmount(self) -> None:
        # Whatever closed the app, never leave a trainer thread running (nor "running" on disk).
        if self.runner.active:
            self.runner.cancel_all()
            await asyncio.to_thread(self.runner.wait_idle, QUIT_CANCEL_TIMEOUT_S)


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
