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

  The app opens in ``new_run``. Base screens are built lazily the first time their mode is
  shown; a module that cannot be imported yet shows a placeholder instead of a crash.
* Pushed on top of the current mode's stack (escape pops them):
  ``app.open_detail(run_id)`` → ``screens.detail.DetailScreen(run_id)``;
  ``app.open_compare(run_ids)`` → ``screens.compare.CompareScreen(run_ids=run_ids)``;
  ``screens.confirm.ConfirmScreen`` for every yes/no question (cancel, delete, quit).
* ``app.edit_and_rerun(config)`` switches to ``new_run`` and fills the form with ``config``.
* Shared state: ``app.data_root``, ``app.runs_dir`` (Paths), ``app.store`` (engine RunStore),
  ``app.runner`` (``cnnlab_tui.runner.RunQueue``: submit, submit_sweep, cancel_current,
  queue, active…), ``app.report_lang`` / ``app.last_report`` (``screens.export``).
* Sweeps: New run turns lists typed in numeric fields and Seeds into an engine sweep
  (``cnnlab_tui.sweep_launch``); it queues as one job whose row reads ``sweep k/N``.
  Compare groups a sweep by setting (mean ± std); ``x`` on Runs and Compare writes the
  lab report (``screens.export``).
* Messages: engine events reach the UI only as ``EngineEvent`` posted by the runner; the app
  folds them into ``app.runner`` state, then forwards a copy to every screen of every mode
  (``on_engine_event``). ``RunsChanged`` (run started / ended / deleted) is forwarded the same
  way (``on_runs_changed``); screens that change the store (delete) post it to the app.
* Styles: ``app.tcss`` holds the shared look; each screen sets ``CSS_PATH`` to its own
  ``styles/<screen>.tcss``.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from cnnlab_tui.messages import EngineEvent, LaunchFailed, QueueChanged, RunsChanged
from cnnlab_tui.notices import notice_for
from cnnlab_tui.runner import RunQueue, TrainerFactory

log = logging.getLogger(__name__)

# mode → (module under cnnlab_tui.screens, class name, title shown in palette/footer)
SCREEN_MODES: dict[str, tuple[str, str, str]] = {
    "new_run": ("new_run", "NewRunScreen", "New run"),
    "live": ("live", "LiveScreen", "Live run"),
    "runs": ("runs", "RunsScreen", "Runs"),
    "compare": ("compare", "CompareScreen", "Compare"),
    "conv_lab": ("conv_lab", "ConvLabScreen", "Conv lab"),
}
QUIT_CANCEL_TIMEOUT_S = 60.0
LOG_FILE = ".cnnlab-dashboard.log"  # hidden: the run store skips dot-files


class UnavailableScreen(Screen):
    """Stands in for a screen whose module cannot be imported (keeps the app usable)."""

    def __init__(self, title: str, reason: str) -> None:
        super().__init__()
        self._title = title
        self._reason = reason

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(
            f"[b]{self._title}[/b] is not available in this build.\n\n{self._reason}",
            id="unavailable",
        )
        yield Footer()


def load_screen_class(module: str, class_name: str) -> type[Screen]:
    """Import `cnnlab_tui.screens.<module>.<class_name>` on demand."""
    return getattr(importlib.import_module(f"cnnlab_tui.screens.{module}"), class_name)


def _screen_factory(mode: str) -> Callable[[], Screen]:
    module, class_name, title = SCREEN_MODES[mode]

    def build() -> Screen:
        try:
            return load_screen_class(module, class_name)()
        except Exception as exc:  # a missing/broken screen must not take the app down
            log.exception("cannot build the %s screen", mode)
            return UnavailableScreen(title, f"{type(exc).__name__}: {exc}")

    return build


def _default_data_root() -> Path:
    try:
        from engine.datasets import default_data_root
    except ImportError:
        return Path(os.environ.get("CNNLAB_DATA", "data"))
    return Path(default_data_root())


def _default_runs_dir() -> Path:
    return Path(os.environ.get("CNNLAB_RUNS", "runs"))


class CnnlabApp(App[int]):
    """Keyboard-driven dashboard for the cnnlab engine (see the module docstring)."""

    TITLE = "cnnlab"
    SUB_TITLE = "a terminal lab for convolutional networks"
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses may live elsewhere
    MODES = {mode: _screen_factory(mode) for mode in SCREEN_MODES}
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
        self.data_root: Path = Path(data_root) if data_root else _default_data_root()
        self.runs_dir: Path = Path(runs_dir) if runs_dir else _default_runs_dir()
        self.runner = RunQueue(self, self.runs_dir, trainer_factory=trainer_factory)
        self.report_lang = "en"  # the lab report's language, as last chosen in its dialog
        self.last_report: Path | None = None  # report.md written last (screens.export)
        self._store: Any = None

    # -- shared API -------------------------------------------------------------------
    @property
    def store(self) -> Any:
        """The engine's RunStore over `runs_dir` (created on first use)."""
        if self._store is None or Path(self._store.root) != self.runs_dir:
            from engine.runs import RunStore

            self._store = RunStore(self.runs_dir)
        return self._store

    def open_detail(self, run_id: str) -> None:
        """Push the Run detail screen for `run_id` on the current mode."""
        self._push_screen_of("detail", "DetailScreen", "Run detail", run_id)

    def open_compare(self, run_ids: list[str]) -> None:
        """Push a Compare screen showing `run_ids` on the current mode."""
        self._push_screen_of("compare", "CompareScreen", "Compare", run_ids=list(run_ids))

    def edit_and_rerun(self, config: dict[str, Any]) -> None:
        """Open New run filled with `config` so the user can edit it and launch again."""
        self._with_new_run(lambda screen: screen.load_config(dict(config)))

    def load_preset(self, name: str) -> None:
        """Open New run with preset `name` loaded."""
        self._with_new_run(lambda screen: screen.load_preset(name))

    def _with_new_run(self, action: Callable[[Any], None]) -> None:
        self.switch_mode("new_run")

        def apply() -> None:
            screen = self._screen_stacks["new_run"][0]
            if hasattr(screen, "load_config"):
                action(screen)

        self.call_after_refresh(apply)

    def _push_screen_of(self, module: str, class_name: str, title: str, *args, **kw) -> None:
        try:
            screen = load_screen_class(module, class_name)(*args, **kw)
        except Exception as exc:
            log.exception("cannot open %s", title)
            self.notify(f"{title} is not available: {exc}", severity="error")
            return
        self.push_screen(screen)

    # -- engine events → state → screens ------------------------------------------------
    def _all_screens(self) -> Iterable[Screen]:
        for stack in self._screen_stacks.values():
            yield from stack

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
        kind = type(event).__name__
        if kind == "RunStarted":
            self.broadcast(lambda: RunsChanged(event.run_id, "running"))
        elif kind == "RunFinished":
            self.broadcast(lambda: RunsChanged(event.run_id, event.status))

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
        for mode, (_module, _cls, title) in SCREEN_MODES.items():
            yield SystemCommand(
                f"Go to {title}", f"Show the {title} screen", lambda m=mode: self.switch_mode(m)
            )
        yield from self._preset_commands()

    def _preset_commands(self) -> Iterable[SystemCommand]:
        try:
            from engine.presets import list_presets

            presets = list_presets()
        except Exception as exc:  # presets are optional for navigation
            log.warning("presets unavailable: %s", exc)
            return
        for preset in presets:
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
        from cnnlab_tui.screens.confirm import ConfirmScreen

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
