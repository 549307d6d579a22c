"""New run: the form that builds a TrainConfig, validates it as typed, and queues it.

Fields come from the engine (`config_fields`, the data set and model registries, each
model's OptionSpecs); the engine's `TrainConfig.validate` supplies the messages shown under
each field. A list in a numeric field (`1e-2, 1e-3`) or Seeds above one launches a sweep
instead of a run (see `cnnlab_tui.sweep_launch`).

The form needs the engine, so until `EngineLoaded` the screen says it is loading (and is
recomposed then). What a field can say by itself (`must be a number`) shows at once; the
slow checks — engine validation, the data set probe, the parameter count — run in
exclusive thread workers (each start cancels the one before) and post their answers back
as messages, so typing never waits on disk or torch and a late answer never overwrites a
newer one (`WorkerAnswer.superseded`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Button, Footer, Static

from cnnlab_tui import sweep_launch
from cnnlab_tui.engine_import import LOADING_TEXT
from cnnlab_tui.messages import EngineLoaded, WorkerAnswer
from cnnlab_tui.screens import new_run_checks as checks
from cnnlab_tui.screens import new_run_fields as fields
from cnnlab_tui.screens.last_launch import (
    load_last_config,
    load_last_sweep_texts,
    save_last_config,
)
from cnnlab_tui.screens.preset_picker import PresetPicker
from cnnlab_tui.widgets.forms import FormField
from cnnlab_tui.widgets.mode_bar import ModeBar
from cnnlab_tui.widgets.model_options import OPTION_PREFIX, ModelOptions

log = logging.getLogger(__name__)
SLOW_KEYS = {"dataset", "data_root", "image_size", "model"}
SLOW_REFRESH_DELAY_S = 0.25  # the probe and the count wait until the typing stops


class NewRunScreen(Screen):
    """Build, check and launch a training run (see the module docstring)."""

    TITLE = "New run"
    CSS_PATH = Path(__file__).parent.parent / "styles" / "new_run.tcss"
    BINDINGS = [
        Binding("ctrl+s", "launch", "Launch", priority=True),
        Binding("f6,ctrl+o", "presets", "Presets", priority=True),
        Binding("ctrl+d", "defaults", "Defaults", priority=True, show=False),
    ]

    class Fill(Message):
        """Fill the form with `config`, or with preset `preset` (the app posts it)."""

        def __init__(self, config: dict[str, Any] | None = None, preset: str | None = None):
            super().__init__()
            self.config = config
            self.preset = preset

    class _ShowModel(Message):
        """Rebuild the model's option fields (a message, so rebuilds never overlap)."""

        def __init__(self, model: str | None) -> None:
            super().__init__()
            self.model = model

    class FormChecked(WorkerAnswer):
        """The engine's messages for the form (field key → message)."""

        def __init__(self, errors: dict[str, str]) -> None:
            super().__init__()
            self.errors = errors

    class DatasetProbed(WorkerAnswer):
        """The data set's status line, and its class count (None when unknown)."""

        def __init__(self, text: str, ok: bool, classes: int | None) -> None:
            super().__init__()
            self.text, self.ok, self.classes = text, ok, classes

    class ParamsCounted(WorkerAnswer):
        """The model's parameter count as text, or why it cannot be built."""

        def __init__(self, text: str, ok: bool) -> None:
            super().__init__()
            self.text, self.ok = text, ok

    def __init__(self) -> None:
        super().__init__()
        self._base: dict[str, Any] = {}  # config keys the form does not show are kept here
        self._field_errors: dict[str, str] = {}  # what the fields themselves found
        self._engine_errors: dict[str, str] = {}  # the engine's answer to the last check
        self._sweep = sweep_launch.SweepForm()
        self._description = ""  # the shown model's one-line description
        self._num_classes: int | None = None  # from the last data set probe
        self._slow_timer: Timer | None = None
        self._waiting_fill: NewRunScreen.Fill | None = None  # arrived before the form
        self._model_coming: str | None = None  # load_config's rebuild of the options is queued

    # -- layout ---------------------------------------------------------------------------
    @property
    def form_ready(self) -> bool:
        """True once the form is built (it needs the engine)."""
        return bool(self.query("#launch"))

    def compose(self) -> ComposeResult:
        yield ModeBar("new_run")
        if not self.app.engine.ready:
            # Nothing focusable: a focused widget removed by the recompose would keep
            # the focus, and with it the screen's keys (ctrl+s) away from the form.
            with Vertical(id="form"):
                yield Static(self.app.engine.error or LOADING_TEXT, id="engine-status")
            yield Footer(compact=True)
            return
        specs = fields.config_field_specs()
        with VerticalScroll(id="form"):
            yield Static("", id="preset-line", classes="muted")
            yield Static("Data", classes="section-title")
            for key, label in fields.DATA_FIELDS:
                yield self._config_field(key, label, specs[key])
            yield Static("", id="dataset-status")
            yield Static("Model", classes="section-title")
            yield FormField(
                "model", "Model", kind="choice", choices=fields.model_choices(), value=None
            )
            yield Static("", id="model-status")
            yield ModelOptions(id="model-options")
            yield Static("", id="hdc-verdict")
            yield Static("Training", classes="section-title")
            yield Static(
                "a list in a number field (lr 1e-2, 1e-3) or Seeds > 1 launches a sweep",
                id="sweep-hint",
                classes="muted",
            )
            for key, label in fields.TRAINING_FIELDS:
                yield self._config_field(key, label, specs[key])
                if key == "seed":
                    yield FormField(
                        sweep_launch.SEEDS_KEY, "Seeds",
                        placeholder="1 · 3 = three seeds from Seed on · 0,5,7 = those seeds",
                    )  # fmt: skip
        with Horizontal(id="launch-bar"):
            yield Button("Launch (ctrl+s)", id="launch", variant="primary", compact=True)
            yield Static("", id="launch-status")
        yield Footer(compact=True)

    def _config_field(self, key: str, label: str, spec: Any) -> FormField:
        choices: list[str] = list(spec.choices or ())
        if key == "dataset":
            choices = fields.dataset_names()
        kind = "choice" if choices else fields.field_kind(spec)
        return FormField(
            key, label, kind=kind, choices=choices, optional=spec.optional, help=spec.help
        )

    def on_mount(self) -> None:
        if self.form_ready:
            self._fill_first()

    async def on_engine_loaded(self, message: EngineLoaded) -> None:
        if message.error:
            self.query_one("#engine-status", Static).update(Text(message.error))
        elif not self.form_ready:
            await self.recompose()
            if not self.form_ready:  # the app is closing: Textual skipped the recompose
                return
            self.focus_next()  # what Textual's auto-focus does when a screen is first shown
            self._fill_first()

    def _fill_first(self) -> None:
        """The last launched config (or the defaults), then whatever was asked meanwhile."""
        self.load_config(load_last_config(self.app.runs_dir) or fields.default_config())
        # A sweep launched last comes back as the lists that were typed, not first values.
        for key, text in load_last_sweep_texts(self.app.runs_dir).items():
            if not key.startswith(OPTION_PREFIX):  # model options are rebuilt per model
                for field in self.query(f"#field-{key}").results(FormField):
                    field.set_value(text)
        if self._waiting_fill is not None:
            self._fill(self._waiting_fill)
            self._waiting_fill = None

    # -- loading configs ---------------------------------------------------------------
    @on(Fill)
    def _fill_requested(self, message: Fill) -> None:
        if self.form_ready:
            self._fill(message)
        else:
            self._waiting_fill = message  # the newest request wins

    def _fill(self, message: Fill) -> None:
        if message.preset is not None:
            self.load_preset(message.preset)
        elif message.config is not None:
            self.load_config(message.config)

    def load_config(self, config: dict[str, Any]) -> None:
        """Fill the form with `config` (a preset, the last run, or a run to re-run)."""
        merged = fields.default_config()
        # Keys this engine does not know (a run saved by an older version) are dropped so a
        # re-run is never refused for a setting that no longer exists.
        merged.update({k: v for k, v in config.items() if k in merged})
        self._options.remember()
        self._base = merged
        model = merged.get("model")
        self._options.preset(model, merged.get("model_options") or {})
        for field in self._config_fields():
            if field.key == "data_root":
                field.set_value(merged.get("data_root") or str(self.app.data_root))
            elif field.key in merged:
                field.set_value(merged[field.key])
        self.query_one(f"#field-{sweep_launch.SEEDS_KEY}", FormField).set_value("")
        preset = merged.get("preset")
        self.query_one("#preset-line", Static).update(
            f"Preset: {preset}" if preset else "f6: load a preset of the lab's experiments"
        )
        self._model_coming = model
        self.post_message(self._ShowModel(model))

    def load_preset(self, name: str) -> None:
        try:
            self.load_config(fields.preset_config(name))
        except ValueError as exc:  # CnnlabError is a ValueError
            self.notify(str(exc), title="Preset", severity="error")
            return
        self.notify(f"Preset loaded: {name}", timeout=3)

    def action_presets(self) -> None:
        if not self._say_if_loading():
            self.app.push_screen(PresetPicker(fields.preset_list()), self._preset_picked)

    def _preset_picked(self, name: str | None) -> None:
        if name:
            self.load_preset(name)

    def action_defaults(self) -> None:
        if not self._say_if_loading():
            self._options.forget()
            self.load_config(fields.default_config())

    def _say_if_loading(self) -> bool:
        """True (and a notice) while the form waits for the engine."""
        if self.form_ready:
            return False
        self.notify(self.app.engine.error or LOADING_TEXT, severity="warning", timeout=3)
        return True

    # -- model options ------------------------------------------------------------------
    @on(_ShowModel)
    async def _show_model_requested(self, message: _ShowModel) -> None:
        self._model_coming = None
        await self._show_model(message.model, force=True)

    @property
    def _options(self) -> ModelOptions:
        return self.query_one("#model-options", ModelOptions)

    async def _show_model(self, model: str | None, *, force: bool = False) -> None:
        """Rebuild the option fields for `model` (keeping what was typed per model)."""
        options = self._options
        if model is None or (model == options.shown_model and not force):
            return
        if not force:
            options.remember()
        field = self.query_one("#field-model", FormField)
        if field.text != model:
            field.set_value(model)
        try:
            info = await options.show(model)
        except ValueError as exc:  # ModelError: unknown model
            self._set_status("#model-status", f"✗ {exc}", ok=False)
            return
        self._description = info.description
        self.query_one("#model-status", Static).update(info.description)
        self._revalidate(slow=True)

    # -- validation ---------------------------------------------------------------------
    def _config_fields(self) -> list[FormField]:
        return [
            f
            for f in self.query(FormField)
            if not f.key.startswith(OPTION_PREFIX) and f.key != sweep_launch.SEEDS_KEY
        ]

    def collect(self) -> tuple[dict[str, Any], dict[str, str]]:
        """(config, field errors) from the form; unparseable fields keep their last value,
        a field holding a list gives its first value."""
        config, errors, _ = self.collect_sweep()
        return config, errors

    def collect_sweep(self) -> tuple[dict[str, Any], dict[str, str], sweep_launch.SweepForm]:
        """`collect` plus the sweep the form describes (lists typed in fields, seeds)."""
        config = dict(self._base)
        values, errors, axes = sweep_launch.read_fields(self._config_fields())
        config.update(values)
        config["data_root"] = config.get("data_root") or None
        options, option_errors, option_axes = sweep_launch.read_fields(
            self._options.fields(), self._options.shown_model
        )
        config["model_options"] = {k.removeprefix(OPTION_PREFIX): v for k, v in options.items()}
        errors.update(option_errors)
        form = sweep_launch.SweepForm(axes + option_axes)
        seeds = self.query_one(f"#field-{sweep_launch.SEEDS_KEY}", FormField).text
        try:
            form.seeds = sweep_launch.parse_seeds_text(seeds, int(config.get("seed") or 0))
        except ValueError as exc:
            errors[sweep_launch.SEEDS_KEY] = str(exc)
        return config, errors, form

    def _revalidate(self, *, slow: bool = False, edited: str | None = None) -> None:
        """Show what the fields say now and ask the engine (a worker) for the rest; `slow`
        also re-runs the probe and the count once the typing stops."""
        config, self._field_errors, self._sweep = self.collect_sweep()
        if edited is not None:  # its last verdict is void; the new one is on its way
            self._engine_errors.pop(edited, None)
        self._show_errors()
        self._show_hdc(config)
        self._check_form(config, self._sweep.axes)
        if slow:
            if self._slow_timer is not None:
                self._slow_timer.stop()
            self._slow_timer = self.set_timer(SLOW_REFRESH_DELAY_S, self._start_slow_checks)

    def _errors(self) -> dict[str, str]:
        """Every message now shown: the fields' own first, then the engine's."""
        errors = dict(self._field_errors)
        for key, message in self._engine_errors.items():
            errors.setdefault(key, message)
        return errors

    def _show_errors(self) -> None:
        errors = self._errors()
        shown = set()
        for field in self.query(FormField):
            field.set_error(errors.get(field.key))
            shown.add(field.key)
        leftover = [f"{k}: {v}" for k, v in errors.items() if k not in shown]
        plan = self._sweep.describe() if self._sweep.is_sweep and not errors else ""
        self._set_status("#launch-status", "; ".join(leftover) or plan, ok=not leftover)

    def _show_hdc(self, config: dict[str, Any]) -> None:
        verdict = self.query_one("#hdc-verdict", Static)
        verdict.display = bool(self.query(f"#field-{OPTION_PREFIX}dilations"))
        text = checks.hdc_text(config["model_options"]) if verdict.display else ""
        verdict.update(Text(text))
        verdict.set_class(bool(text) and not text.startswith("HDC ✓"), "-bad")

    @on(FormField.Changed)
    async def _field_changed(self, event: FormField.Changed) -> None:
        key = event.field.key
        if key == "model":
            # Loading a config sets the field too: its own rebuild is queued, and a second
            # one could land after the user (or a test) typed into the first.
            if event.field.text != self._model_coming:
                await self._show_model(event.field.text or None)
            return
        self._revalidate(slow=key in SLOW_KEYS or key.startswith(OPTION_PREFIX), edited=key)

    def _sweep_texts(self, form: sweep_launch.SweepForm) -> dict[str, str]:
        """The typed text of every field that made this launch a sweep (lists, Seeds)."""
        if not form.is_sweep:
            return {}
        keys = {axis.form_key for axis in form.axes} | {sweep_launch.SEEDS_KEY}
        return {f.key: f.text for f in self.query(FormField) if f.key in keys and f.text}

    def _set_status(self, selector: str, text: str, *, ok: bool) -> None:
        widget = self.query_one(selector, Static)
        widget.update(Text(text))  # engine messages may quote `[4,8]`: never markup
        widget.set_class(not ok, "-bad")

    # -- the slow checks (exclusive thread workers) ----------------------------------------
    @work(thread=True, exclusive=True, group="form-check")
    def _check_form(self, config: dict[str, Any], axes: list[sweep_launch.GridAxis]) -> None:
        self.post_message(self.FormChecked(checks.engine_errors(config, axes)))

    @on(FormChecked)
    def _form_checked(self, answer: FormChecked) -> None:
        if not answer.superseded:
            self._engine_errors = answer.errors
            self._show_errors()

    def _start_slow_checks(self) -> None:
        config, _ = self.collect()
        self._probe_dataset(config["dataset"], config["data_root"])
        self._count_parameters(config)

    @work(thread=True, exclusive=True, group="dataset-probe")
    def _probe_dataset(self, dataset: str, data_root: str | None) -> None:
        self.post_message(self.DatasetProbed(*checks.probe_dataset(dataset, data_root)))

    @on(DatasetProbed)
    def _dataset_probed(self, answer: DatasetProbed) -> None:
        if answer.superseded:
            return
        self._set_status("#dataset-status", answer.text, ok=answer.ok)
        if answer.classes != self._num_classes:  # the classifier's size depends on it
            self._num_classes = answer.classes
            self._count_parameters(self.collect()[0])

    @work(thread=True, exclusive=True, group="params")
    def _count_parameters(self, config: dict[str, Any]) -> None:
        image_size = config.get("image_size")
        if not isinstance(image_size, int) or image_size < 1 or not config.get("model"):
            return
        classes = self._num_classes or checks.DEFAULT_CLASS_COUNT
        try:
            text = checks.count_parameters_text(
                config["model"], config["model_options"], image_size, classes
            )
        except Exception as exc:  # ModelError: e.g. image too small for the layers
            self.post_message(self.ParamsCounted(str(exc), False))
            return
        self.post_message(self.ParamsCounted(text, True))

    @on(ParamsCounted)
    def _params_counted(self, answer: ParamsCounted) -> None:
        if not answer.superseded:
            text = f"{self._description}\n{'' if answer.ok else '✗ '}{answer.text}"
            self._set_status("#model-status", text, ok=answer.ok)

    # -- launch ---------------------------------------------------------------------------
    @on(Button.Pressed, "#launch")
    def _launch_pressed(self) -> None:
        self.action_launch()

    def action_launch(self) -> None:
        """Queue the run, or say why not (never a crash)."""
        if self._say_if_loading():
            return
        config, self._field_errors, form = self.collect_sweep()
        self._sweep = form
        # Checked now, not on its way: a check still running would only repeat this one
        # (and its answer would blank the verdict shown below).
        self.workers.cancel_group(self, "form-check")
        self._engine_errors = checks.engine_errors(config, form.axes)
        self._show_errors()
        errors = self._errors()
        problems = [f"{k.removeprefix(OPTION_PREFIX)}: {v}" for k, v in errors.items()]
        if not problems:
            problem = checks.model_problem(config, self._num_classes)
            problems += [f"model: {problem}"] if problem else []
        if problems:
            self._refuse(f"Not launched — fix {len(problems)} problem(s): {problems[0]}")
            return
        what = f"{config['model']} on {config['dataset']}"
        try:
            if form.is_sweep:
                spec = sweep_launch.build_sweep(config, form)
                queue_id = self.app.runner.submit_sweep(spec, config)
                what = f"{form.describe()} of {what}"
            else:
                queue_id = self.app.runner.submit(config)
        except ValueError as exc:  # ConfigError and friends
            self._refuse(f"Not launched — {exc}")
            return
        save_last_config(self.app.runs_dir, config, self._sweep_texts(form))
        self._set_status("#launch-status", f"Queued as {queue_id}", ok=True)
        self.notify(f"Queued {what} ({queue_id})", timeout=3, markup=False)
        self.app.switch_mode("live")

    def _refuse(self, reason: str) -> None:
        self._set_status("#launch-status", reason, ok=False)
        self.notify(reason, title="Launch refused", severity="warning", markup=False)
