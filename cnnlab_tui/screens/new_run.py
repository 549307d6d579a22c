"""New run: the form that builds a TrainConfig, validates it as typed, and queues it.

Fields come from the engine (`config_fields`, the data set and model registries, each
model's OptionSpecs); the engine's `TrainConfig.validate` supplies the messages shown under
each field. A list in a numeric field (`1e-2, 1e-3`) or Seeds above one launches a sweep
instead of a run (see `cnnlab_tui.sweep_launch`). Slow answers (data set probe, parameter
count) run in thread workers and come back as messages, so typing never waits on disk or
torch.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Static

from cnnlab_tui import sweep_launch
from cnnlab_tui.screens import new_run_support as support
from cnnlab_tui.screens.new_run_checks import SlowAnswer, SlowChecks
from cnnlab_tui.screens.preset_picker import PresetPicker
from cnnlab_tui.widgets.forms import FormField
from cnnlab_tui.widgets.mode_bar import ModeBar
from cnnlab_tui.widgets.model_options import OPTION_PREFIX, ModelOptions

log = logging.getLogger(__name__)
SLOW_KEYS = {"dataset", "data_root", "image_size", "model"}


class NewRunScreen(Screen):
    """Build, check and launch a training run (see the module docstring)."""

    CSS_PATH = Path(__file__).parent.parent / "styles" / "new_run.tcss"
    BINDINGS = [
        Binding("ctrl+s", "launch", "Launch", priority=True),
        Binding("f6,ctrl+o", "presets", "Presets", priority=True),
        Binding("ctrl+d", "defaults", "Defaults", priority=True, show=False),
    ]

    class _ShowModel(Message):
        """Rebuild the model's option fields (a message, so rebuilds never overlap)."""

        def __init__(self, model: str | None) -> None:
            super().__init__()
            self.model = model

    def __init__(self) -> None:
        super().__init__()
        self._base: dict[str, Any] = {}  # config keys the form does not show are kept here
        self._errors: dict[str, str] = {}
        self._description = ""  # the shown model's one-line description
        self._checks = SlowChecks(self)

    # -- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        specs = support.config_field_specs()
        yield ModeBar("new_run")
        with VerticalScroll(id="form"):
            yield Static("", id="preset-line", classes="muted")
            yield Static("Data", classes="section-title")
            for key, label in support.DATA_FIELDS:
                yield self._config_field(key, label, specs[key])
            yield Static("", id="dataset-status")
            yield Static("Model", classes="section-title")
            yield FormField(
                "model", "Model", kind="choice", choices=support.model_choices(), value=None
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
            for key, label in support.TRAINING_FIELDS:
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
            choices = support.dataset_names()
        kind = "choice" if choices else support.field_kind(spec)
        return FormField(
            key, label, kind=kind, choices=choices, optional=spec.optional, help=spec.help
        )

    def on_mount(self) -> None:
        self.load_config(support.load_last_config(self.app.runs_dir) or support.default_config())
        # A sweep launched last comes back as the lists that were typed, not first values.
        for key, text in support.load_last_sweep_texts(self.app.runs_dir).items():
            if not key.startswith(OPTION_PREFIX):  # model options are rebuilt per model
                for field in self.query(f"#field-{key}").results(FormField):
                    field.set_value(text)

    # -- loading configs ---------------------------------------------------------------
    def load_config(self, config: dict[str, Any]) -> None:
        """Fill the form with `config` (a preset, the last run, or a run to re-run)."""
        merged = support.default_config()
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
        self.post_message(self._ShowModel(model))

    def load_preset(self, name: str) -> None:
        try:
            self.load_config(support.preset_config(name))
        except ValueError as exc:  # CnnlabError is a ValueError
            self.notify(str(exc), title="Preset", severity="error")
            return
        self.notify(f"Preset loaded: {name}", timeout=3)

    def action_presets(self) -> None:
        try:
            presets = support.preset_list()
        except Exception as exc:
            self.notify(f"Presets are not available: {exc}", severity="error")
            return
        self.app.push_screen(PresetPicker(presets), self._preset_picked)

    def _preset_picked(self, name: str | None) -> None:
        if name:
            self.load_preset(name)

    def action_defaults(self) -> None:
        self._options.forget()
        self.load_config(support.default_config())

    # -- model options ------------------------------------------------------------------
    @on(_ShowModel)
    async def _show_model_requested(self, message: _ShowModel) -> None:
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

    def _revalidate(self, *, slow: bool = False) -> dict[str, str]:
        from cnnlab_tui.runner import validate_config

        config, errors, form = self.collect_sweep()
        engine_errors = validate_config(config)
        for key, message in engine_errors.items():
            errors.setdefault(key, message)
        for key, message in sweep_launch.axis_errors(config, form.axes, engine_errors).items():
            errors.setdefault(key, message)
        self._errors = errors
        shown = set()
        for field in self.query(FormField):
            field.set_error(errors.get(field.key))
            shown.add(field.key)
        self._show_hdc(config)
        leftover = [f"{k}: {v}" for k, v in errors.items() if k not in shown]
        plan = form.describe() if form.is_sweep and not errors else ""
        self._set_status("#launch-status", "; ".join(leftover) or plan, ok=not leftover)
        if slow:
            self._checks.schedule()
        return errors

    def _show_hdc(self, config: dict[str, Any]) -> None:
        verdict = self.query_one("#hdc-verdict", Static)
        verdict.display = bool(self.query(f"#field-{OPTION_PREFIX}dilations"))
        text = support.hdc_text(config["model_options"]) if verdict.display else ""
        verdict.update(Text(text))
        verdict.set_class(bool(text) and not text.startswith("HDC ✓"), "-bad")

    @on(FormField.Changed)
    async def _field_changed(self, event: FormField.Changed) -> None:
        key = event.field.key
        if key == "model":
            await self._show_model(event.field.text or None)
            return
        self._revalidate(slow=key in SLOW_KEYS or key.startswith(OPTION_PREFIX))

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

    # -- slow answers (threads, see new_run_checks) -------------------------------------
    @on(SlowAnswer)
    def _slow_answer(self, answer: SlowAnswer) -> None:
        if not self._checks.accept(answer):
            return  # a newer edit is already being answered
        if answer.kind == "dataset":
            self._set_status("#dataset-status", answer.text, ok=answer.ok)
            return
        text = f"{self._description}\n{'' if answer.ok else '✗ '}{answer.text}"
        self._set_status("#model-status", text, ok=answer.ok)

    # -- launch ---------------------------------------------------------------------------
    @on(Button.Pressed, "#launch")
    def _launch_pressed(self) -> None:
        self.action_launch()

    def action_launch(self) -> None:
        """Queue the run, or say why not (never a crash)."""
        errors = self._revalidate()
        problems = [f"{k.removeprefix(OPTION_PREFIX)}: {v}" for k, v in errors.items()]
        config, _, form = self.collect_sweep()
        if not problems:
            problem = support.model_problem(config, self._checks.num_classes)
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
        support.save_last_config(self.app.runs_dir, config, self._sweep_texts(form))
        self._set_status("#launch-status", f"Queued as {queue_id}", ok=True)
        self.notify(f"Queued {what} ({queue_id})", timeout=3, markup=False)
        self.app.switch_mode("live")

    def _refuse(self, reason: str) -> None:
        self._set_status("#launch-status", reason, ok=False)
        self.notify(reason, title="Launch refused", severity="warning", markup=False)
