"""New run: the form that produces a TrainConfig, checks it as typed, and queues it in the
background engine.

Fields come from the engine (`config_fields`, the data set and model registries, each
model's OptionSpecs) and read their text with the engine's one parser (`parse_field_text`);
`to_config()` is the form's one way out: a `TrainConfig` (the config it was filled with ←
its fields, by `apply_overrides`), the sweep its lists describe, or the fields' errors. A
list in a numeric field (`1e-2, 1e-3`) or Seeds above one launches a sweep instead of a run
(`cnnlab_tui.sweep_launch`): its resolved base config and the parsed values, never text.

The form needs the engine, so until `EngineLoaded` the screen says it is loading (and is
recomposed then). What a field can say by itself (`must be a number`) shows at once; the
slow check — the data set probe when its fields changed, then the engine's validation and
the parameter count from the one model it builds — runs in an exclusive thread worker
(each start cancels the one before) and posts its answers back as messages, so typing never
waits on disk or torch and a late answer never overwrites a newer one
(`WorkerAnswer.superseded`). Launching validates nothing here: the engine validates the
submission once (a thread worker sends it) and answers with field messages or its entry.
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

from cnnlab_tui import search_launch, sweep_launch
from cnnlab_tui.engine_import import LOADING_TEXT
from cnnlab_tui.messages import EngineLoaded, QueueChanged, WorkerAnswer
from cnnlab_tui.screens import new_run_checks as checks
from cnnlab_tui.screens import new_run_fields as fields
from cnnlab_tui.screens import weights_consent as consent
from cnnlab_tui.screens.last_launch import (
    load_last_config,
    load_last_sweep_texts,
    save_last_config,
)
from cnnlab_tui.screens.new_run_reading import FormReading
from cnnlab_tui.screens.preset_picker import PresetPicker
from cnnlab_tui.widgets.forms import FormField
from cnnlab_tui.widgets.mode_bar import ModeBar
from cnnlab_tui.widgets.model_options import OPTION_PREFIX, ModelOptions

log = logging.getLogger(__name__)
PROBED_KEYS = {"dataset", "data_root"}  # what the data set probe reads
PROBE_DELAY_S = 0.25  # a probe (disk) waits until the typing stops


class NewRunScreen(Screen):
    """Build, check and launch a training run (see the module docstring)."""

    TITLE = "New run"
    CSS_PATH = Path(__file__).parent.parent / "styles" / "new_run.tcss"
    # ≥ 150 columns: longer fields (new_run.tcss); below, the compact layout for 80×24.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (150, "-wide")]
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
        """The engine's verdict on `reading` (field key → message, the model's size)."""

        def __init__(self, reading: FormReading, check: checks.FormCheck) -> None:
            super().__init__()
            self.reading, self.check = reading, check

    class DatasetProbed(WorkerAnswer):
        """The data set's status line, and its class count (None when unknown)."""

        def __init__(self, text: str, ok: bool, classes: int | None) -> None:
            super().__init__()
            self.text, self.ok, self.classes = text, ok, classes

    class Launched(WorkerAnswer):
        """The engine queued the form's run or sweep: its entry's view."""

        def __init__(self, view: dict[str, Any], what: str) -> None:
            super().__init__()
            self.view, self.what = view, what

    class Refused(WorkerAnswer):
        """The engine refused the submission: field → message, or why in a sentence."""

        def __init__(self, errors: dict[str, str], message: str = "") -> None:
            super().__init__()
            self.errors, self.message = errors, message

    def __init__(self) -> None:
        super().__init__()
        self._base: dict[str, Any] = {}  # config keys the form does not show are kept here
        self._field_errors: dict[str, str] = {}  # what the fields themselves found
        self._engine_errors: dict[str, str] = {}  # the engine's answer to the last check
        self._checked: FormReading | None = None  # what that answer was about
        self._sweep = sweep_launch.SweepForm()
        self._search: search_launch.SearchForm | None = None  # Trials filled: a search
        self._description = ""  # the shown model's one-line description
        self._num_classes: int | None = None  # from the last data set probe
        self._probe_due = True  # the data set fields changed since the last probe answered
        self._check_timer: Timer | None = None
        self._launching = False  # a submission is on its way to the engine
        # The last "Not launched — …" and whether it was about the fields' problems: it stays
        # beside Launch until the user edits the form (a check that answers late must not
        # hide it), unless that check finds the fields' problems gone.
        self._refusal: tuple[str, bool] | None = None
        self._waiting_fill: NewRunScreen.Fill | None = None  # arrived before the form
        self._model_coming: str | None = None  # load_config's rebuild of the options is queued
        self._queued_id: str | None = None  # the entry "Queued as …" is about, until it ends

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
            yield ModelOptions(parser_for=fields.option_parser, id="model-options")
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
            yield from search_launch.form_fields()
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
            key, label, kind=kind, choices=choices, optional=spec.optional, help=spec.help,
            parser=fields.text_parser(key),
        )  # fmt: skip

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
        self._revalidate()

    # -- reading the form -----------------------------------------------------------------
    def _config_fields(self) -> list[FormField]:
        return [
            f
            for f in self.query(FormField)
            if not f.key.startswith(OPTION_PREFIX)
            and f.key not in (sweep_launch.SEEDS_KEY, *search_launch.FORM_KEYS)
        ]

    def to_config(self) -> FormReading:
        """The form as the engine takes it: a TrainConfig (the config it was filled with ←
        its fields; a field holding a list gives its first value), the sweep its lists and
        Seeds describe, and what the fields could not read (those keep the value they were
        filled with, so the rest can still be checked; the form launches only without)."""
        values, errors, axes = sweep_launch.read_fields(self._config_fields())
        options, option_errors, option_axes = sweep_launch.read_fields(
            self._options.fields(), self._options.shown_model
        )
        errors.update(option_errors)
        values["model_options"] = {k.removeprefix(OPTION_PREFIX): v for k, v in options.items()}
        form = sweep_launch.SweepForm(axes + option_axes)
        seed = values.get("seed") if isinstance(values.get("seed"), int) else 0
        seeds = self.query_one(f"#field-{sweep_launch.SEEDS_KEY}", FormField).text
        try:
            form.seeds = sweep_launch.parse_seeds_text(seeds, seed)
        except ValueError as exc:
            errors[sweep_launch.SEEDS_KEY] = str(exc)
        values, search = search_launch.read_form(
            values, errors, form, [*self._config_fields(), *self._options.fields()],
            self._form_text, self._options.shown_model,
        )  # fmt: skip
        try:
            config = fields.config_over(self._base, values)
        except ValueError as exc:  # ConfigError: a setting the form cannot hold
            found = getattr(exc, "errors", None) or {"config": str(exc)}
            return FormReading(None, form, {**errors, **found}, search)
        return FormReading(config, form, errors, search)

    def _form_text(self, key: str) -> str:
        return self.query_one(f"#field-{key}", FormField).text

    # -- checking as typed --------------------------------------------------------------
    def _revalidate(self, *, edited: str | None = None) -> None:
        """Show what the fields say now and ask the engine (a worker) for the rest: once the
        typing stops when the data set must be probed again, else at once."""
        reading = self.to_config()
        self._field_errors, self._sweep = reading.errors, reading.sweep
        self._search = reading.search
        if edited is not None:  # its last verdict is void; the new one is on its way
            self._engine_errors.pop(edited, None)
            self._refusal = None
        self._show_errors()
        self._show_hdc(reading)
        if self._check_timer is not None:
            self._check_timer.stop()
            self._check_timer = None
        if reading.config is None:
            self.workers.cancel_group(self, "form-check")  # an older answer would mislead
            return
        if not self._probe_due:  # nothing slow to wait for (a 0 s timer is refused)
            self._check_timer = None
            self._start_check(reading)
            return
        self._check_timer = self.set_timer(PROBE_DELAY_S, lambda: self._start_check(reading))

    @property
    def checking(self) -> bool:
        """True while the check of the form as typed is still to come (waiting for the
        typing to stop, or running in its worker): what the fields show is not final."""
        return self._check_timer is not None or any(
            w.group == "form-check" and not w.is_finished for w in self.workers
        )

    def _start_check(self, reading: FormReading) -> None:
        self._check_timer = None
        config = reading.config
        probe = (config.dataset, config.data_root) if self._probe_due else None
        self._check_form(reading, probe, self._num_classes)

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
        if self._search is not None and not errors:
            plan = self._search.describe()
        if self._refusal is not None and (errors or not self._refusal[1]):
            self._set_status("#launch-status", self._refusal[0], ok=False)
            return
        self._refusal = None
        self._set_status("#launch-status", "; ".join(leftover) or plan, ok=not leftover)

    def _show_hdc(self, reading: FormReading) -> None:
        verdict = self.query_one("#hdc-verdict", Static)
        verdict.display = bool(self.query(f"#field-{OPTION_PREFIX}dilations"))
        options = reading.config.model_options if reading.config is not None else {}
        text = checks.hdc_text(options) if verdict.display else ""
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
        if key in PROBED_KEYS:
            self._probe_due = True
        self._revalidate(edited=key)

    def _sweep_texts(self, form: sweep_launch.SweepForm) -> dict[str, str]:
        """The typed text of every field that made this launch a sweep (lists, Seeds) or
        a search (its ranges and lists, Trials, Objective)."""
        if self._search is not None:
            keys = {*self._search.form_keys.values(), *search_launch.FORM_KEYS}
            return {f.key: f.text for f in self.query(FormField) if f.key in keys and f.text}
        if not form.is_sweep:
            return {}
        keys = {axis.form_key for axis in form.axes} | {sweep_launch.SEEDS_KEY}
        return {f.key: f.text for f in self.query(FormField) if f.key in keys and f.text}

    def _set_status(self, selector: str, text: str, *, ok: bool) -> None:
        widget = self.query_one(selector, Static)
        widget.update(Text(text))  # engine messages may quote `[4,8]`: never markup
        widget.set_class(not ok, "-bad")

    # -- the slow check (an exclusive thread worker) ----------------------------------------
    @work(thread=True, exclusive=True, group="form-check")
    def _check_form(
        self, reading: FormReading, probe: tuple[str, str | None] | None, classes: int | None
    ) -> None:
        if probe is not None:  # first the data set: its class count sizes the model
            text, ok, classes = checks.probe_dataset(*probe)
            self.post_message(self.DatasetProbed(text, ok, classes))
        check = checks.form_check(reading.config, reading.sweep.axes, classes)
        self.post_message(self.FormChecked(reading, check))

    @on(DatasetProbed)
    def _dataset_probed(self, answer: DatasetProbed) -> None:
        if not answer.superseded:
            self._probe_due = False
            self._num_classes = answer.classes
            self._set_status("#dataset-status", answer.text, ok=answer.ok)

    @on(FormChecked)
    def _form_checked(self, answer: FormChecked) -> None:
        if answer.superseded:
            return
        self._engine_errors, self._checked = answer.check.errors, answer.reading
        self._show_errors()
        check = answer.check
        text = f"{self._description}\n{'' if check.params_ok else '✗ '}{check.params}"
        self._set_status("#model-status", text, ok=check.params_ok)

    # -- launch ---------------------------------------------------------------------------
    @on(Button.Pressed, "#launch")
    def _launch_pressed(self) -> None:
        self.action_launch()

    def action_launch(self) -> None:
        """Send the form's run or sweep to the engine, or say why not (never a crash)."""
        if self._say_if_loading():
            return
        if self._launching:
            self.notify("Already sending it to the engine…", severity="warning", timeout=3)
            return
        reading = self.to_config()
        self._field_errors, self._sweep = reading.errors, reading.sweep
        self._search = reading.search
        if reading.config is not None and not reading.same_as(self._checked):
            self._engine_errors = {}  # about another form: the engine will say it again
        self._show_errors()
        problems = [f"{k.removeprefix(OPTION_PREFIX)}: {v}" for k, v in self._errors().items()]
        if problems:
            self._refuse(f"Not launched — fix {len(problems)} problem(s): {problems[0]}",
                         about_fields=True)  # fmt: skip
            return
        config, form = reading.config, reading.sweep
        what = f"{config.model} on {config.dataset}"
        spec = None
        if reading.search is not None:
            try:
                spec = search_launch.build_search_spec(config, reading.search)
            except ValueError as exc:  # ConfigError: under the fields it names
                self._engine_errors = search_launch.field_errors(exc, reading.search)
                self._show_errors()
                key, message = next(iter(self._engine_errors.items()))
                self._refuse(f"Not launched — {key.removeprefix('search-')}: {message}")
                return
            what = f"{reading.search.describe()} of {what}"
        elif form.is_sweep:
            try:
                spec = sweep_launch.build_sweep(config, form)
            except ValueError as exc:  # ConfigError: a key the grid may not sweep
                self._refuse(f"Not launched — {exc}")
                return
            what = f"{form.describe()} of {what}"
        launch = (reading, spec, self._sweep_texts(form), what)
        weights = consent.missing_weights(config)
        if weights is not None:  # ask before anything reaches the network
            self._ask_to_download(weights, launch)
            return
        self._send(launch)

    def _send(self, launch: tuple) -> None:
        self._launching = True
        self._refusal = None
        self._set_status("#launch-status", "Sending it to the engine…", ok=True)
        self._submit(*launch)

    def _ask_to_download(self, name: str, launch: tuple) -> None:
        from cnnlab_tui.screens.confirm import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if not yes:
                self._refuse(
                    f"Not launched — the torchvision:{name} weights are not downloaded "
                    "(Launch again to be asked, or clear Init from)"
                )
                return
            self._launching = True
            self._refusal = None
            self._download_then_send(name, launch)

        question = consent.consent_question(name)
        self.app.push_screen(
            ConfirmScreen(question, title="Download weights?", yes_label="Download"), answered
        )

    @work(thread=True, group="launch")
    def _download_then_send(self, name: str, launch: tuple) -> None:
        def report(text: str) -> None:
            self.app.call_from_thread(self._set_status, "#launch-status", text, ok=True)

        try:
            consent.download_with_progress(name, report)
        except Exception as exc:  # TransferError (no network, a bad hash), or worse: said
            self.post_message(self.Refused({}, str(exc)))
            return
        self.app.call_from_thread(self._send, launch)

    @work(thread=True, group="launch")
    def _submit(
        self, reading: FormReading, spec: Any, sweep_texts: dict[str, str], what: str
    ) -> None:
        from engine.errors import CnnlabError, ConfigError

        runner = self.app.runner
        try:
            if reading.search is not None:
                view = runner.submit_search(spec)
            else:
                view = runner.submit_sweep(spec) if spec else runner.submit_run(reading.config)
        except ConfigError as exc:  # the engine's validation, field by field
            self.post_message(self.Refused(dict(exc.errors)))
            return
        except CnnlabError as exc:  # no engine, a refusal in a sentence
            self.post_message(self.Refused({}, str(exc)))
            return
        save_last_config(self.app.runs_dir, reading.config.to_dict(), sweep_texts)
        self.post_message(self.Launched(view, what))

    @on(Launched)
    def _launched(self, answer: Launched) -> None:
        self._launching = False
        queue_id = answer.view.get("queue_id")
        self._queued_id = queue_id
        self._set_status("#launch-status", f"Queued as {queue_id}", ok=True)
        self.notify(f"Queued {answer.what} ({queue_id})", timeout=3, markup=False)
        self.app.switch_mode("live")

    def on_queue_changed(self, message: QueueChanged) -> None:
        """Keep the line beside Launch true: the entry it names runs, then ends."""
        if self._queued_id is None:
            return
        entry = self.app.runner.get(self._queued_id)
        if entry is None or entry.state == "queued":
            return
        if entry.state == "finished":
            what = entry.status or "finished"
            self._set_status("#launch-status", f"{self._queued_id} ended: {what}", ok=True)
            self._queued_id = None
        else:
            self._set_status("#launch-status", f"{self._queued_id} is {entry.state}", ok=True)

    @on(Refused)
    def _refused(self, answer: Refused) -> None:
        self._launching = False
        if answer.errors:
            found = {sweep_launch.form_key_of(k): v for k, v in answer.errors.items()}
            self._engine_errors, self._checked = found, None
            self._show_errors()
            first = next(iter(answer.errors.items()))
            self._refuse(f"Not launched — the engine found {len(found)} problem(s): "
                         f"{first[0]}: {first[1]}", about_fields=True)  # fmt: skip
        else:
            self._refuse(f"Not launched — {answer.message}")

    def _refuse(self, reason: str, *, about_fields: bool = False) -> None:
        self._refusal = (reason, about_fields)
        self._set_status("#launch-status", reason, ok=False)
        self.notify(reason, title="Launch refused", severity="warning", markup=False)
